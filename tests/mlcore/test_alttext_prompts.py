"""Context and purpose reach the models that take a prompt: captured on the wire between the
OpenAI-compatible engine and a REAL `transformers serve` (a recording proxy the test starts in
front of it), and in the prompt a local tiny VLM is given; prompt-less models caption as before."""

import http.server
import json
import threading
import urllib.request

import pytest

from benchmarks.testing import make_test_images
from benchmarks.testing_vlm import build_tiny_llava
from mlcore import GenerationParams, load_captioner
from mlcore.capabilities import spec_uses_context
from tests.mlcore.test_openai_engine import Server

CONTEXT = "Product page of the Alpine 40 L hiking backpack, colour moss green"
G = GenerationParams(num_beams=1, max_length=6, min_length=2, context=CONTEXT, purpose="functional",
                     action="Add the backpack to the basket")


class RecordingProxy:
    """Forwards every POST to `target` unchanged and keeps the JSON bodies it saw."""

    def __init__(self, target: str):
        self.bodies: list[dict] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                proxy.bodies.append(json.loads(body))
                request = urllib.request.Request(target + self.path, data=body, method="POST",
                                                 headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=120) as answer:
                    data, code = answer.read(), answer.status
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def vlm_folder(tmp_path_factory):
    return str(build_tiny_llava(tmp_path_factory.mktemp("served") / "tiny-llava"))


def _texts_sent(body: dict) -> list[str]:
    return [part["text"] for message in body["messages"] for part in message["content"] if part.get("type") == "text"]


def test_context_and_purpose_reach_transformers_serve(vlm_folder, tmp_path, engine_env_alt, fresh_cache):
    server = Server(vlm_folder, str(tmp_path / "serve.log"))
    proxy = RecordingProxy(f"http://127.0.0.1:{server.port}")
    try:
        spec = f"openai:{proxy.url}/v1#{vlm_folder}"
        assert spec_uses_context(spec) is True
        engine = load_captioner(spec)
        result = engine.caption(make_test_images(1), G)[0]
        sent = [text for body in proxy.bodies for text in _texts_sent(body)]
        assert sent, "no request reached the server"
        assert CONTEXT in sent[0] and "link or button" in sent[0] and "Add the backpack to the basket" in sent[0]
        assert result.prompt == sent[0]  # what the caption records is what was sent
        proxy.bodies.clear()
        engine.caption(make_test_images(1), GenerationParams(num_beams=1, max_length=6, min_length=2))
        plain = _texts_sent(proxy.bodies[0])[0]
        assert CONTEXT not in plain and plain.startswith("Write alt text for this image in English")
    finally:
        proxy.close()
        server.stop()


def test_context_and_purpose_reach_a_local_tiny_vlm(vlm_folder, fresh_cache):
    captioner = load_captioner(vlm_folder)
    assert spec_uses_context(vlm_folder) is True
    with_context = captioner.caption(make_test_images(1), G)[0]
    assert CONTEXT in with_context.prompt and "It does this: Add the backpack to the basket." in with_context.prompt
    plain = captioner.caption(make_test_images(1), GenerationParams(num_beams=1, max_length=6, min_length=2))[0]
    assert CONTEXT not in plain.prompt


def test_prompt_less_models_caption_as_before_and_say_they_ignore_context(tiny_blip_dir, fresh_cache):
    assert spec_uses_context(str(tiny_blip_dir)) is False
    captioner = load_captioner(str(tiny_blip_dir))
    images = make_test_images(1)
    plain = captioner.caption(images, GenerationParams(num_beams=1, max_length=6, min_length=2))[0]
    with_context = captioner.caption(images, G)[0]
    assert with_context.text == plain.text and with_context.prompt == plain.prompt
    assert CONTEXT not in with_context.prompt


def test_custom_style_templates_place_context_and_purpose():
    from mlcore.styles import register_style, unregister_style

    style = register_style("product-alt", "For {purpose} Context: {context} Alt text in {language}.")
    try:
        prompt = style.prompt_for("de", purpose="text", context="Shop sign")
        assert prompt == ("For The image is mostly text: the alt text must be that text, word for word. "
                          "Context: The image appears in this context: Shop sign. Alt text in German.")
        assert style.prompt_for("en") == "For Context: Alt text in English."
    finally:
        unregister_style("product-alt")


@pytest.fixture
def engine_env_alt(monkeypatch):
    from mlcore.config import reload_config

    monkeypatch.setenv("MLCORE_OPENAI_RETRIES", "1")
    monkeypatch.setenv("MLCORE_OPENAI_TIMEOUT", "60")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("MLCORE_OPENAI_API_KEY", raising=False)
    reload_config()
