// Behaviour every page may use, wired here so that no template needs inline script or handlers
// (a strict Content-Security-Policy: script-src 'self').
(function () {
  "use strict";

  if (window.htmx) {
    // A refused form (400) comes back with its errors rendered in the fragment: show it, as a
    // page load would (htmx leaves 4xx answers out by default).
    htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "400", swap: true },
      { code: "[45]..", swap: false, error: true },
      { code: "...", swap: false },
    ];
  }

  // "Copy" buttons: data-copy-target names the element whose text is copied.
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy-target]");
    if (!button) return;
    const text = document.getElementById(button.dataset.copyTarget).textContent.trim();
    const label = button.dataset.label || (button.dataset.label = button.textContent);
    try {
      await navigator.clipboard.writeText(text);
    } catch (error) {
      const area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1500);
  });

  // Forms that ask before doing something that cannot be undone: data-confirm="question".
  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  }, true);

  // Filters that apply at once: data-autosubmit on a select, or on a form (its selects and date
  // fields), sends the form on change; the form's own button is the fallback without script.
  document.addEventListener("change", (event) => {
    const field = event.target.closest("select[data-autosubmit], form[data-autosubmit] select, form[data-autosubmit] input[type=date]");
    if (field && field.form) field.form.requestSubmit();
  });

  // A GET form with data-drop-empty leaves its empty fields out of the URL (the server redirects
  // such a URL to its short form too, for a form sent without script).
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!form.matches || !form.matches("form[data-drop-empty]") || event.defaultPrevented) return;
    const emptied = Array.from(form.elements).filter((field) => field.name && !field.disabled && field.value === "");
    emptied.forEach((field) => { field.disabled = true; });
    setTimeout(() => emptied.forEach((field) => { field.disabled = false; }), 0); // back as they were for a return visit
  });

  // The image page's previous / next within the list it came from: the user's review keys (the
  // same setting turns them off), while the focus is not in a field.
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.key.length !== 1) return;
    const walk = document.querySelector('nav.walk[data-shortcuts="on"]');
    if (!walk) return;
    if (event.target.closest && event.target.closest("input, textarea, select, [contenteditable]")) return;
    const link = Array.from(walk.querySelectorAll("a[data-walk-key]")).find((a) => a.dataset.walkKey === event.key);
    if (link) {
      event.preventDefault();
      window.location.assign(link.href);
    }
  });
})();
