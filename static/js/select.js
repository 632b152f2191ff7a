// Selecting many images (the gallery) or captions (the review queue) for one bulk action.
// Works without this script (plain checkboxes and submit buttons); with it:
// - shift-click (or Shift+Space) on a box sets every box between it and the last one clicked;
// - the count of selected items is announced (role=status);
// - "Select this page" ticks every box on the page;
// - "Select all N matching" (the whole search, not only the page) ticks the page too and says so.
(function () {
  "use strict";

  function setup(form) {
    if (form.dataset.selectReady) return;
    form.dataset.selectReady = "1";
    const boxes = () => Array.from(document.querySelectorAll(
      `input.select-box[form="${form.id}"], #${form.id} input.select-box`));
    const count = form.querySelector("[data-count], #bulk-count, #review-bulk-count");
    const all = form.querySelector("input[name=all]");
    const pageButton = form.querySelector("#select-page");
    const total = form.dataset.total || "";
    let last = null;
    let shift = false;

    function update() {
      const ticked = boxes().filter((box) => box.checked).length;
      if (!count) return;
      if (all && all.checked) count.textContent = `All ${total} selected.`;
      else if (ticked === 0) count.textContent = "No image selected.".replace("image", form.dataset.noun || "image");
      else count.textContent = `${ticked} selected.`;
      form.classList.toggle("has-selection", ticked > 0 || (all && all.checked));
    }

    document.addEventListener("keydown", (event) => { if (event.key === "Shift") shift = true; });
    document.addEventListener("keyup", (event) => { if (event.key === "Shift") shift = false; });

    document.addEventListener("click", (event) => {
      const box = event.target.closest("input.select-box");
      if (!box || !boxes().includes(box)) return;
      const list = boxes();
      if ((event.shiftKey || shift) && last && last !== box && list.includes(last)) {
        const [a, b] = [list.indexOf(last), list.indexOf(box)].sort((x, y) => x - y);
        for (let i = a; i <= b; i += 1) list[i].checked = box.checked;
      }
      last = box;
      if (all && !box.checked) all.checked = false;
      update();
    });

    if (all) {
      all.addEventListener("change", () => {
        if (all.checked) boxes().forEach((box) => { box.checked = true; });
        update();
      });
    }
    if (pageButton) {
      pageButton.hidden = false;
      pageButton.addEventListener("click", () => {
        const list = boxes();
        const every = list.every((box) => box.checked);
        list.forEach((box) => { box.checked = !every; });
        if (all && every) all.checked = false;
        update();
      });
    }
    update();
  }

  document.querySelectorAll("form.bulk-bar").forEach(setup);
  // upload.js replaces the gallery's images section after an upload with refusals.
  document.addEventListener("captionsite:images-replaced", () => document.querySelectorAll("form.bulk-bar").forEach(setup));
})();
