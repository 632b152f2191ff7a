// The review queue's keyboard: every shortcut clicks the control that carries its data-key, so a
// key does exactly what the visible button does (htmx sends it and swaps in the next item).
// Single-key shortcuts act only while the focus is inside the review panel, and not at all when
// the user turned them off (the panel's data-shortcuts="off"; keys are the user's own, rendered
// into data-key). After each swap the focus moves to the new item's first action (WCAG 2.4.3),
// and the live region says what happened.
(function () {
  "use strict";

  // A refused action (400) comes back with the reason rendered in the panel: site.js (every page)
  // tells htmx to show it.

  function panel() {
    return document.getElementById("review-panel");
  }

  function isTyping(element) {
    return Boolean(
      element &&
        element.closest &&
        element.closest('textarea, select, [contenteditable], input:not([type="radio"]):not([type="checkbox"]):not([type="hidden"])')
    );
  }

  function openRejectPanel(root) {
    const details = root.querySelector("#reject-panel");
    if (!details) return;
    details.open = true;
    const first = details.querySelector("input[type=number]");
    if (first) first.focus();
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const root = panel();
    if (!root) return;
    // A key can come in the instant after a swap, before htmx has wired the new panel up:
    // wire it now (a no-op when done) so Enter or a shortcut goes through htmx, never a page load.
    if (window.htmx) htmx.process(root);
    if (isTyping(event.target)) {
      if (event.key === "Enter" && event.target.tagName === "SELECT" && event.target.form) {
        event.preventDefault(); // a select has no implicit submission; send its form as a text field would
        event.target.form.requestSubmit();
      }
      if (event.key === "Escape") {
        const cancel = root.querySelector('[data-key="Escape"]');
        const details = event.target.closest("details");
        event.preventDefault();
        if (cancel && root.contains(event.target) && event.target.closest("#edit-form")) cancel.click();
        else if (details) { details.open = false; event.target.blur(); }
        else event.target.blur();
      }
      return;
    }
    // Single characters: only in the panel, only when the user has them on (WCAG 2.1.4).
    if (event.key.length === 1 && (root.dataset.shortcuts === "off" || !root.contains(event.target))) return;
    if (!root.contains(event.target) && event.key !== "Escape") return;
    const reject = root.querySelector('[data-action="reject"]');
    if (reject && event.key === reject.dataset.key) {
      event.preventDefault();
      openRejectPanel(root);
      return;
    }
    const control = root.querySelector('[data-key="' + CSS.escape(event.key) + '"]');
    if (control) {
      event.preventDefault();
      control.click();
    }
  });

  // The summary toggles the panel natively; focus its first field so Enter sends it at once.
  document.addEventListener("toggle", function (event) {
    if (event.target.id === "reject-panel" && event.target.open) {
      const first = event.target.querySelector("input[type=number]");
      if (first && document.activeElement !== first) first.focus();
    }
  }, true);

  document.addEventListener("htmx:responseError", function (event) {
    const root = panel();
    if (!root) return;
    const status = event.detail.xhr ? event.detail.xhr.status : 0;
    let box = document.getElementById("review-error");
    if (!box) {
      box = document.createElement("p");
      box.id = "review-error";
      box.className = "error";
      box.setAttribute("role", "alert");
      root.insertBefore(box, root.children[1] || null);
    }
    box.textContent =
      status === 404 ? "This caption is gone or not yours to review. Reload the queue."
      : status === 403 ? "You are not allowed to do that."
      : "The server could not do that (" + status + "). Try again.";
  });

  // The panel is replaced on every action: tell screen readers what happened through a live
  // region that stays in the page (a replaced region is not reliably announced).
  document.addEventListener("htmx:afterSwap", function () {
    const root = panel();
    const live = document.getElementById("review-live");
    if (!root || !live) return;
    // The focus was on a control that is gone: put it on the new item's first action (the edit
    // field when editing, the first button otherwise; the panel itself when the queue is empty).
    const target = root.querySelector("#edit-text") || root.querySelector("[data-first-action]") ||
      root.querySelector(".review-actions button, .review-actions a, button, a[href]") || root;
    if (!root.contains(document.activeElement) || document.activeElement === root) target.focus();
    const notice = root.querySelector("#review-notice, #review-error");
    const left = root.querySelector("#review-remaining");
    live.textContent = (notice ? notice.textContent.trim() + " " : "") + (left ? left.textContent.trim() + " left to review." : "");
  });

  document.addEventListener("htmx:sendError", function () {
    const root = panel();
    if (root) root.setAttribute("data-offline", "true");
  });
})();
