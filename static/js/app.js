// Toasts, the confirmation dialog and the bulk selection of lists; htmx does the rest.
(function () {
  const TOAST_MS = 5000;

  function showToast(message, level) {
    const container = document.getElementById("toasts");
    if (!container) return;
    const toast = document.createElement("div");
    toast.className = "toast " + (level || "info");
    toast.setAttribute("role", "status");
    toast.textContent = message;
    container.appendChild(toast);
    setTimeout(() => toast.remove(), TOAST_MS);
  }

  // A server response sends `HX-Trigger: {"toast": {"message": "...", "level": "success"}}`,
  // or `{"toast": {"toasts": [...]}}` for several at once (a header names each event once).
  document.addEventListener("toast", (event) => {
    (event.detail.toasts || [event.detail]).forEach((toast) => showToast(toast.message, toast.level));
  });

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("#toasts .toast").forEach((toast) => {
      setTimeout(() => toast.remove(), TOAST_MS);
    });
  });

  // A failed htmx request (500, network down) must not fail silently.
  document.addEventListener("htmx:responseError", (event) => {
    // A refusal that explains itself in its own toast (a missing permission) needs no second one.
    if ((event.detail.xhr.getResponseHeader("HX-Trigger") || "").includes('"toast"')) return;
    showToast("The server could not complete that request (" + event.detail.xhr.status + ").", "error");
  });
  document.addEventListener("htmx:sendError", () => {
    showToast("Could not reach the server. Check your connection and try again.", "error");
  });

  // hx-confirm asks in the page's own dialog instead of the browser's: the element's
  // data-confirm-button names the action ("Delete"), data-confirm-dismiss the way out ("Cancel").
  document.addEventListener("htmx:confirm", (event) => {
    const question = event.detail.question;
    const dialog = document.getElementById("confirm-dialog");
    if (!question || !dialog) return;
    event.preventDefault();
    dialog.querySelector("#confirm-question").textContent = question;
    dialog.querySelector("[data-confirm-button]").textContent = event.detail.elt.dataset.confirmButton || "Confirm";
    dialog.querySelector("[value=cancel]").textContent = event.detail.elt.dataset.confirmDismiss || "Cancel";
    dialog.returnValue = "";
    dialog.addEventListener("close", () => {
      if (dialog.returnValue === "confirm") event.detail.issueRequest(true);
    }, { once: true });
    dialog.showModal();
  });

  // Bulk selection: a box with data-select-all="NAME" ticks every box named NAME of its form,
  // and the form's [data-selected-count] says how many are ticked.
  document.addEventListener("change", (event) => {
    const box = event.target;
    if (box.type !== "checkbox" || !box.form) return;
    const name = box.dataset.selectAll || box.name;
    const boxes = Array.from(box.form.elements).filter((el) => el.type === "checkbox" && el.name === name);
    if (box.dataset.selectAll) boxes.forEach((el) => { el.checked = box.checked; });
    const count = box.form.querySelector("[data-selected-count]");
    if (count) count.textContent = boxes.filter((el) => el.checked).length;
  });

  // Copy buttons: data-copy="SELECTOR" copies that element's text.
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.querySelector(button.dataset.copy);
    try {
      await navigator.clipboard.writeText(source.textContent.trim());
      button.textContent = "Copied";
      showToast("Copied to the clipboard.", "success");
    } catch (error) {
      window.getSelection().selectAllChildren(source);
      showToast("Could not copy: the text is selected, press Ctrl+C.", "warning");
    }
  });

  // A fragment that refreshes itself (the delivery log) keeps the panels the reader opened:
  // <details> with an id stay open across the swap.
  let openPanels = [];
  document.addEventListener("htmx:beforeSwap", (event) => {
    openPanels = Array.from(event.detail.target.querySelectorAll("details[id][open]"), (panel) => panel.id);
  });
  document.addEventListener("htmx:afterSwap", () => {
    openPanels.forEach((id) => document.getElementById(id)?.setAttribute("open", ""));
    openPanels = [];
  });

  window.showToast = showToast;
})();
