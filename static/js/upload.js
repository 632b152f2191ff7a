// Drag and drop onto the upload form, and the "copy alt text" button.
(function () {
  const zone = document.getElementById("dropzone");
  if (zone) {
    const input = zone.querySelector("input[type=file]");
    const list = document.getElementById("dropzone-files");
    const show = () => {
      const names = Array.from(input.files).map((f) => f.name);
      list.textContent = names.length ? names.length + " selected: " + names.join(", ") : "";
    };
    input.addEventListener("change", show);
    ["dragenter", "dragover"].forEach((type) =>
      zone.addEventListener(type, (event) => { event.preventDefault(); zone.classList.add("dragging"); }));
    ["dragleave", "drop"].forEach((type) =>
      zone.addEventListener(type, () => zone.classList.remove("dragging")));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      const transfer = new DataTransfer();
      Array.from(input.files).forEach((f) => transfer.items.add(f));
      Array.from(event.dataTransfer.files).forEach((f) => transfer.items.add(f));
      input.files = transfer.files;
      show();
    });
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy-target]");
    if (!button) return;
    const text = document.getElementById(button.dataset.copyTarget).textContent.trim();
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
    setTimeout(() => { button.textContent = "Copy alt text"; }, 1500);
  });
})();
