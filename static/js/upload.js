// The upload form: drag and drop, and sending with progress. Files go in parts of at most
// data-max-files each (one request per part, XHR for upload progress); the answer is the API's
// answer to an upload (202 {images, refused}; 400/413 {detail, code, errors, refused}); each part's
// refusals are listed as they come; the button is disabled while sending; at the end the gallery
// (data-done) loads (or, when some files were refused, only its images section is fetched, so that
// the list of refusals stays). A 400 whose errors name a field (a style, language or model the
// request cannot have) stops the sending: the fields are marked and the first gets the focus. The
// Style list says which styles the model chosen in the Model field cannot write
// (upload-model-abilities, from mlcore.capabilities).
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
  const galleryUrl = form.dataset.done || "/";
  const maxFiles = parseInt(form.dataset.maxFiles, 10) || 50;
  const maxBytes = parseInt(form.dataset.maxBytes, 10) || 0;
  const maxZipBytes = parseInt(form.dataset.maxZipBytes, 10) || maxBytes;
  const isZip = (file) => /\.zip$/i.test(file.name);
  const limitOf = (file) => (isZip(file) ? maxZipBytes : maxBytes);

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

  // --- What the chosen model can write (progressive enhancement; the server checks again) -----
  const abilitiesNode = document.getElementById("upload-model-abilities");
  const abilities = abilitiesNode ? JSON.parse(abilitiesNode.textContent) : null;
  const modelField = document.getElementById("upload-model");
  const styleField = document.getElementById("upload-style");
  const abilityText = document.getElementById("upload-style-ability");
  const LANGUAGE_NAMES = abilities ? abilities.language_names || {} : {};

  function intersect(a, b) {
    if (a === null) return b;
    if (b === null) return a;
    return a.filter((x) => b.includes(x));
  }

  // {styles, languages, known} of a spec: a name offered, or an ensemble of them (every member
  // writes every caption: what all of them can); null when the page cannot tell.
  function abilityOf(spec) {
    if (!abilities) return null;
    const name = (spec || "").trim() || abilities.site;
    if (abilities.models[name]) return abilities.models[name];
    if (!name.startsWith("ensemble:")) return null;
    let result = { styles: null, languages: null, known: true };
    for (const member of name.slice("ensemble:".length).split(";")[0].split(",")) {
      const found = abilities.models[member.trim()];
      if (!found) return null;
      result = { styles: intersect(result.styles, found.styles), languages: intersect(result.languages, found.languages),
                 known: result.known && found.known };
    }
    return result;
  }

  function describe(name, ability) {
    if (!ability.known) return name + " is checked for styles and languages when it captions.";
    if (ability.styles === null && ability.languages === null) return name + " writes every style in any language.";
    const styles = ability.styles === null ? "every style" :
      (ability.styles.length === 1 && ability.styles[0] === "alt" ? "alt text" : "the styles " + ability.styles.join(", "));
    const languages = ability.languages === null ? "any language" :
      ability.languages.map((code) => LANGUAGE_NAMES[code] || code).join(" or ") + " only";
    let text = name + " writes " + styles + " in " + languages;
    if (abilities.suggestion) text += "; choose a vision-language model such as " + abilities.suggestion + " for other styles or languages";
    return text + ".";
  }

  function markStyles() {
    if (!abilities || !styleField || !modelField) return;
    const spec = modelField.value.trim();
    const name = spec || abilities.site;
    const ability = abilityOf(spec);
    Array.from(styleField.options).forEach((option) => {
      if (!option.value) return;
      const cannot = ability && ability.known && ability.styles !== null && !ability.styles.includes(option.value);
      option.textContent = option.value + (cannot ? " (not with " + name + ")" : "");
    });
    if (abilityText) {
      abilityText.textContent = ability ? (spec ? "The chosen model, " : "The site's model, ") + name + "," + describe("", ability) :
        "What " + name + " can write is checked when you upload.";
    }
  }
  markStyles();
  if (modelField) {
    modelField.addEventListener("change", markStyles);
    modelField.addEventListener("input", markStyles);
  }

  // --- Field errors (a 400 naming style, language, model or a setting) --------------------------
  const FIELD_IDS = { style: "upload-style", language: "upload-language", model: "upload-model",
                      num_beams: "id_num_beams", max_length: "id_max_length" };

  function clearFieldErrors() {
    Object.values(FIELD_IDS).forEach((id) => {
      const field = document.getElementById(id);
      const error = document.getElementById(id + "-error");
      if (!field) return;
      field.removeAttribute("aria-invalid");
      field.setAttribute("aria-describedby", id + "-hint");
      if (error) { error.textContent = ""; error.hidden = true; }
    });
  }

  // Marks each named field; returns the first one marked (in the page's order), or null.
  function showFieldErrors(fieldErrors) {
    let first = null;
    Object.entries(FIELD_IDS).forEach(([name, id]) => {
      const messages = fieldErrors[name];
      const field = document.getElementById(id);
      if (!messages || !messages.length || !field) return;
      let error = document.getElementById(id + "-error");
      if (!error) {
        error = document.createElement("span");
        error.className = "error";
        error.id = id + "-error";
        field.parentNode.appendChild(error);
      }
      error.textContent = messages.join(" ");
      error.hidden = false;
      field.setAttribute("aria-invalid", "true");
      field.setAttribute("aria-describedby", id + "-error " + id + "-hint");
      if (field.closest("details")) field.closest("details").open = true;
      if (!first || (first.compareDocumentPosition(field) & Node.DOCUMENT_POSITION_PRECEDING)) first = field;
    });
    return first;
  }

  function mib(bytes) { // a size in words: KiB below 1 MiB (small files read "0.0 MiB" before)
    if (bytes < 1024 * 1024) return (bytes > 0 ? Math.max(1, Math.round(bytes / 1024)) : 0) + " KiB";
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
      xhr.open("POST", form.getAttribute("action")); // not form.action: a field named "action" (the link action) shadows it
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
        // The API's answer to an upload: 202 {images, refused}; 400/413 {detail, code, errors, refused}.
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch (error) { body = null; }
        const errors = body && body.errors && typeof body.errors === "object" ? body.errors : {};
        const fieldErrors = {};
        Object.keys(errors).forEach((name) => { if (FIELD_IDS[name]) fieldErrors[name] = errors[name]; });
        if (xhr.status === 400 && Object.keys(fieldErrors).length) {
          // The settings are wrong for every part: nothing was stored, nothing more is sent.
          resolve({ accepted: 0, fieldErrors: fieldErrors });
          return;
        }
        if (body) {
          const refused = body.refused || [];
          refused.forEach((r) => refuse(r.filename + ": " + r.reason));
          Object.keys(errors).forEach((name) => {
            if (name === "files" && refused.length) return; // the same refusals, listed above
            errors[name].forEach((message) => refuse(message));
          });
          if (xhr.status >= 400 && !refused.length && !Object.keys(errors).length) {
            refuse(body.detail || "The server refused files " + (filesBefore + 1) + "–" + (filesBefore + files.length) +
              " (HTTP " + xhr.status + ").");
          }
        } else {
          refuse("The server refused files " + (filesBefore + 1) + "–" + (filesBefore + files.length) +
            " (HTTP " + xhr.status + ").");
        }
        resolve({ accepted: body && Array.isArray(body.images) ? body.images.length : 0, fieldErrors: null });
      };
      xhr.onerror = () => {
        refuse("Files " + (filesBefore + 1) + "–" + (filesBefore + files.length) + " could not be sent: the connection failed.");
        resolve({ accepted: 0, fieldErrors: null });
      };
      xhr.send(data);
    });
  }

  form.addEventListener("submit", async (event) => {
    if (!window.FormData || !window.XMLHttpRequest) return; // the plain form post still works
    event.preventDefault();
    const all = Array.from(input.files);
    refusals.textContent = "";
    clearFieldErrors();
    if (!all.length) {
      status.textContent = "Choose at least one image first.";
      input.focus();
      return;
    }
    const files = [];
    all.forEach((file) => {
      if (limitOf(file) && file.size > limitOf(file)) refuse(file.name + ": larger than " + mib(limitOf(file)) + "; not sent.");
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
      const answer = await sendPart(part, sent, totalBytes, start, files.length);
      accepted += answer.accepted;
      if (answer.fieldErrors) {
        button.disabled = false;
        progressBox.hidden = true;
        const first = showFieldErrors(answer.fieldErrors);
        status.textContent = (accepted ? accepted + " image" + (accepted === 1 ? "" : "s") + " queued; the other files were not stored" :
          "No file was stored") + ": correct the marked setting" + (Object.keys(answer.fieldErrors).length > 1 ? "s" : "") + " and upload again.";
        if (first) first.focus();
        return;
      }
      sent += part.reduce((sum, f) => sum + f.size, 0);
    }
    bar.value = 100;
    button.disabled = false;
    const refusedCount = refusals.children.length;
    status.textContent = accepted + " image" + (accepted === 1 ? "" : "s") + " queued for captioning" +
      (refusedCount ? "; " + refusedCount + " refused (listed below)." : ".");
    if (accepted && !refusedCount) {
      window.location.assign(galleryUrl); // the new cards, and the notices
    } else if (accepted) {
      // Some files were refused: the list stays on screen, and the images section below is
      // fetched again so that the new cards (and the poll that updates them) appear.
      if (await refreshImages()) {
        status.append(" The new images are shown below.");
      } else {
        const link = document.createElement("a");
        link.href = galleryUrl;
        link.textContent = "Show the new images";
        status.append(" ", link);
      }
    }
  });

  async function refreshImages() {
    const section = document.getElementById("images-section");
    if (!section || !window.fetch || !window.DOMParser) return false;
    try {
      const response = await fetch(galleryUrl, { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (!response.ok) return false;
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html").getElementById("images-section");
      if (!fresh) return false;
      section.replaceWith(fresh);
      if (window.htmx) window.htmx.process(fresh); // the gallery poll
      document.dispatchEvent(new CustomEvent("captionsite:images-replaced")); // select.js sets up the new bulk bar
      return true;
    } catch (error) {
      return false;
    }
  }
})();
