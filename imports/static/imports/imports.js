// Imports page: drag and drop onto the file input, a size check before sending, upload progress.
(function () {
  function formOf(node) {
    return node && node.closest ? node.closest("#upload-form") : null;
  }

  function showChosen(form) {
    const input = form.querySelector("input[type=file]");
    const file = input.files[0];
    const error = form.querySelector("[data-client-error]");
    const max = Number(form.dataset.maxBytes);
    if (!file) return;
    form.querySelector("[data-file-name]").textContent = file.name + " · " + (file.size / 1048576).toFixed(1) + " MB";
    const tooLarge = max && file.size > max;
    error.hidden = !tooLarge;
    error.textContent = tooLarge ? "The file is larger than the " + (max / 1048576).toFixed(0) + " MB limit." : "";
    form.querySelector("[data-submit]").disabled = tooLarge;
  }

  document.addEventListener("change", (event) => {
    const form = formOf(event.target);
    if (form && event.target.type === "file") showChosen(form);
  });

  ["dragenter", "dragover"].forEach((type) => document.addEventListener(type, (event) => {
    const zone = event.target.closest && event.target.closest(".dropzone");
    if (!zone) return;
    event.preventDefault();
    zone.classList.add("dragover");
  }));
  document.addEventListener("dragleave", (event) => {
    const zone = event.target.closest && event.target.closest(".dropzone");
    if (zone) zone.classList.remove("dragover");
  });
  document.addEventListener("drop", (event) => {
    const zone = event.target.closest && event.target.closest(".dropzone");
    if (!zone) return;
    event.preventDefault();
    zone.classList.remove("dragover");
    const form = formOf(zone);
    form.querySelector("input[type=file]").files = event.dataTransfer.files;
    showChosen(form);
  });

  document.addEventListener("htmx:beforeRequest", (event) => {
    const form = formOf(event.detail.elt);
    if (!form || event.detail.elt !== form) return;
    form.querySelector("[data-upload-progress]").hidden = false;
    form.querySelector("[data-submit]").disabled = true;
  });
  document.addEventListener("htmx:xhr:progress", (event) => {
    const form = formOf(event.detail.elt);
    if (!form || !event.detail.lengthComputable) return;
    const percent = Math.round((100 * event.detail.loaded) / event.detail.total);
    form.querySelector("[data-upload-progress] .bar").style.width = percent + "%";
    form.querySelector("[data-upload-progress] .progress").setAttribute("aria-valuenow", percent);
    form.querySelector("[data-upload-text]").textContent =
      percent < 100 ? "Uploading… " + percent + "%" : "Uploaded, checking the file…";
  });
  document.addEventListener("htmx:afterRequest", (event) => {
    const form = formOf(event.detail.elt);
    if (form && event.detail.failed && document.body.contains(form)) {
      form.querySelector("[data-upload-progress]").hidden = true;
      form.querySelector("[data-submit]").disabled = false;
    }
  });
})();
