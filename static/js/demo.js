// The landing page's demo: send one image to the public demo API and show its caption (polling
// while the worker is still at it). The result shows the image (from the visitor's own file: the
// server deletes its copy) with the caption as its alt text, and the caption beside it.
(function () {
  "use strict";
  const form = document.getElementById("demo-form");
  if (!form) return;
  const result = document.getElementById("demo-result");
  const button = document.getElementById("demo-button");

  function show(text, isError) {
    result.textContent = "";
    const p = document.createElement("p");
    p.textContent = text;
    if (isError) p.className = "error";
    result.appendChild(p);
  }

  async function answer(response) {
    let body = null;
    try { body = await response.json(); } catch (error) { body = null; }
    if (!response.ok) {
      show((body && body.detail) || "The demo could not caption this image (HTTP " + response.status + ").", true);
      return null;
    }
    return body;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = form.querySelector("input[type=file]").files[0];
    if (!file) { show("Choose an image first.", true); return; }
    const data = new FormData();
    data.append("file", file, file.name);
    button.disabled = true;
    show("Captioning " + file.name + "…");
    try {
      let body = await answer(await fetch(form.action, { method: "POST", body: data, headers: { Accept: "application/json" } }));
      for (let tries = 0; body && (body.status === "queued" || body.status === "processing") && tries < 60; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 2000));
        body = await answer(await fetch(body.url, { headers: { Accept: "application/json" } }));
      }
      if (body && body.caption) {
        show("Caption: " + body.caption.text);
        const figure = document.createElement("figure");
        figure.className = "demo-figure";
        const img = document.createElement("img");
        img.src = URL.createObjectURL(file);
        img.alt = body.caption.text;
        img.id = "demo-image";
        img.addEventListener("load", () => URL.revokeObjectURL(img.src), { once: true });
        figure.appendChild(img);
        result.prepend(figure);
      }
      else if (body && body.status === "failed") show("The image could not be captioned: " + (body.error || "no reason given") + ".", true);
      else if (body) show("The caption is taking long; try again in a minute.", true);
    } catch (error) {
      show("The demo could not be reached. Check the connection and try again.", true);
    } finally {
      button.disabled = false;
    }
  });
})();
