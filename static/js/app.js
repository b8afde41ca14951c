// Toasts: a server response sends `HX-Trigger: {"toast": {"message": "...", "level": "success"}}`.
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

  document.addEventListener("toast", (event) => {
    showToast(event.detail.message, event.detail.level);
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

  window.showToast = showToast;
})();
