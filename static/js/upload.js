// The upload form: drag and drop, and sending with progress. Files go in parts of at most
// data-max-files each (one request per part, XHR for upload progress); each part's refusals are
// listed as they come; the button is disabled while sending; the gallery reloads at the end.
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  const zone = document.getElementById("dropzone");
  if (!form || !zone) return;
  const input = zone.querySelector("input[type=file]");
  const list = document.getElementById("dropzone-files");
  const button = document.getElementById("upload-button");
  const progressBox = document.getElementById("upload-progress");
  const bar = document.getElementById("upload-bar");
  const progressText = document.getElementById("upload-progress-text");
  const status = document.getElementById("upload-status");
  const refusals = document.getElementById("upload-refusals");
  const maxFiles = parseInt(form.dataset.maxFiles, 10) || 50;
  const maxBytes = parseInt(form.dataset.maxBytes, 10) || 0;

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

  function mib(bytes) {
    return (bytes / (1024 * 1024)).toFixed(1) + " MiB";
  }

  function refuse(text) {
    const item = document.createElement("li");
    item.textContent = text;
    refusals.appendChild(item);
  }

  function sendPart(files, sentBefore, totalBytes, filesBefore, totalFiles) {
    return new Promise((resolve) => {
      const data = new FormData();
      data.append("csrfmiddlewaretoken", form.querySelector("[name=csrfmiddlewaretoken]").value);
      form.querySelectorAll("input[type=number], [data-upload-param]").forEach((field) => {
        if (field.value !== "") data.append(field.name, field.value);
      });
      files.forEach((file) => data.append("images", file, file.name));
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = (event) => {
        if (!event.lengthComputable) return;
        const partBytes = files.reduce((sum, f) => sum + f.size, 0);
        const sent = sentBefore + Math.min(partBytes, event.loaded * partBytes / event.total);
        bar.value = totalBytes ? Math.round(100 * sent / totalBytes) : 0;
        progressText.textContent = "Sending files " + (filesBefore + 1) + "–" + (filesBefore + files.length) +
          " of " + totalFiles + ": " + mib(sent) + " of " + mib(totalBytes);
      };
      xhr.onload = () => {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch (error) { body = null; }
        if (body) {
          (body.refused || []).forEach((r) => refuse(r.filename + ": " + r.reason));
          (body.errors || []).forEach((e) => refuse(e));
        } else {
          refuse("The server refused files " + (filesBefore + 1) + "–" + (filesBefore + files.length) +
            " (HTTP " + xhr.status + ").");
        }
        resolve(body && body.accepted ? body.accepted : 0);
      };
      xhr.onerror = () => {
        refuse("Files " + (filesBefore + 1) + "–" + (filesBefore + files.length) + " could not be sent: the connection failed.");
        resolve(0);
      };
      xhr.send(data);
    });
  }

  form.addEventListener("submit", async (event) => {
    if (!window.FormData || !window.XMLHttpRequest) return; // the plain form post still works
    event.preventDefault();
    const all = Array.from(input.files);
    refusals.textContent = "";
    if (!all.length) {
      status.textContent = "Choose at least one image first.";
      input.focus();
      return;
    }
    const files = [];
    all.forEach((file) => {
      if (maxBytes && file.size > maxBytes) refuse(file.name + ": larger than " + mib(maxBytes) + "; not sent.");
      else files.push(file);
    });
    const totalBytes = files.reduce((sum, f) => sum + f.size, 0);
    button.disabled = true;
    progressBox.hidden = false;
    bar.value = 0;
    status.textContent = "Sending " + files.length + " file" + (files.length === 1 ? "" : "s") + "…";
    let accepted = 0, sent = 0;
    for (let start = 0; start < files.length; start += maxFiles) {
      const part = files.slice(start, start + maxFiles);
      accepted += await sendPart(part, sent, totalBytes, start, files.length);
      sent += part.reduce((sum, f) => sum + f.size, 0);
    }
    bar.value = 100;
    button.disabled = false;
    const refusedCount = refusals.children.length;
    status.textContent = accepted + " image" + (accepted === 1 ? "" : "s") + " queued for captioning" +
      (refusedCount ? "; " + refusedCount + " refused (listed below)." : ".");
    if (accepted && !refusedCount) {
      window.location.assign(form.action); // the new cards, and the notices
    } else if (accepted) {
      const link = document.createElement("a");
      link.href = form.action;
      link.textContent = "Show the new images";
      status.append(" ", link);
    }
  });
})();
