"""The OpenAI-compatible engine and fallback chains against a REAL server: `transformers serve`
(the transformers CLI) serving a tiny random VLM folder that the test builds, on a free local port."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from benchmarks.testing import make_test_images
from benchmarks.testing_vlm import build_tiny_llava
from mlcore import GenerationParams, ModelLoadError, load_captioner, resolve_spec
from mlcore.config import MLCoreConfigError, reload_config
from mlcore.engines import (
    EngineUnavailable,
    add_engine_listener,
    remove_engine_listener,
)
from mlcore.errors import FailureKind
from mlcore.predictors.fallback import FallbackCaptioner
from mlcore.predictors.openai_engine import (
    OpenAIEngine,
    image_data_url,
    parse_openai_spec,
)

G = GenerationParams(num_beams=1, max_length=6, min_length=2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _transformers_cli() -> list[str]:
    exe = os.path.join(os.path.dirname(sys.executable), "transformers")
    if os.path.exists(exe):
        return [exe]
    found = shutil.which("transformers")
    if not found:
        pytest.fail("the transformers CLI is missing: install requirements-dev.txt (transformers[serving])")
    return [found]


class Server:
    """`transformers serve <folder>` on a free port; stop() kills exactly that process."""

    def __init__(self, folder: str, log_path: str):
        self.folder = folder
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            _transformers_cli() + ["serve", folder, "--host", "127.0.0.1", "--port", str(self.port),
                                   "--device", "cpu", "--log-level", "warning"],
            stdout=self.log, stderr=subprocess.STDOUT, env=dict(os.environ, HF_HUB_OFFLINE="1"),
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                with open(log_path) as fh:
                    raise RuntimeError(f"transformers serve exited with {self.proc.returncode}: {fh.read()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError("transformers serve did not become ready in 120 s")

    @property
    def spec(self) -> str:
        return f"openai:{self.url}#{self.folder}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.log.close()


@pytest.fixture(scope="module")
def vlm_folder(tmp_path_factory):
    return str(build_tiny_llava(tmp_path_factory.mktemp("served") / "tiny-llava"))


@pytest.fixture
def engine_env(monkeypatch):
    monkeypatch.setenv("MLCORE_OPENAI_CONCURRENCY", "2")
    monkeypatch.setenv("MLCORE_OPENAI_RETRIES", "2")
    monkeypatch.setenv("MLCORE_OPENAI_BACKOFF", "0.05")
    monkeypatch.setenv("MLCORE_OPENAI_TIMEOUT", "60")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("MLCORE_OPENAI_API_KEY", raising=False)
    reload_config()  # mlcore reads its environment once


@pytest.fixture
def server(vlm_folder, tmp_path):
    s = Server(vlm_folder, str(tmp_path / "serve.log"))
    yield s
    s.stop()


@pytest.fixture
def events():
    seen = []

    def listener(event, engine, info):
        seen.append((event, engine, info))

    add_engine_listener(listener)
    yield seen
    remove_engine_listener(listener)


# -- specs and settings (no server) --------------------------------------------------------------

def test_spec_parsing():
    assert parse_openai_spec("openai:http://vllm:8000/v1#Qwen/Qwen2.5-VL-7B-Instruct") == (
        "http://vllm:8000/v1", "Qwen/Qwen2.5-VL-7B-Instruct")
    assert parse_openai_spec("openai:http://h:11434/v1/chat/completions#qwen2.5vl:7b") == (
        "http://h:11434/v1", "qwen2.5vl:7b")
    ms = resolve_spec("openai:https://api.openai.com/v1/#gpt-4o-mini")
    assert ms.kind == "openai" and ms.model_id == "openai:https://api.openai.com/v1#gpt-4o-mini"
    fb = resolve_spec("fallback:openai:http://a:1/v1#m|blip-base")
    assert fb.kind == "fallback" and [m.kind for m in fb.members] == ["openai", "hf"]
    for bad in ["openai:http://h/v1", "openai:http://h/v1#", "openai:ftp://h/v1#m", "openai:#m",
                "fallback:", "fallback:fallback:blip-base|blip-base", "fallback:blip-base|no-such-model"]:
        with pytest.raises(ModelLoadError):
            resolve_spec(bad)


def test_settings_from_environment_and_bad_values(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("MLCORE_OPENAI_CONCURRENCY", "3")
    reload_config()
    e = OpenAIEngine.from_spec("openai:http://127.0.0.1:9/v1#m")
    assert (e.api_key, e.concurrency, e.max_side) == ("sk-test", 3, 768)
    monkeypatch.setenv("MLCORE_OPENAI_API_KEY", "mine")
    reload_config()
    assert OpenAIEngine.from_spec("openai:http://127.0.0.1:9/v1#m", concurrency=1).api_key == "mine"
    monkeypatch.setenv("MLCORE_OPENAI_CONCURRENCY", "lots")
    with pytest.raises(MLCoreConfigError, match="MLCORE_OPENAI_CONCURRENCY"):
        reload_config()
    monkeypatch.delenv("MLCORE_OPENAI_CONCURRENCY")
    reload_config()
    assert OpenAIEngine.from_spec("openai:http://127.0.0.1:9/v1#m")


def test_images_are_downscaled_data_urls():
    import base64
    import io

    from PIL import Image

    img = Image.new("RGBA", (2000, 1000), (10, 20, 30, 255))
    url = image_data_url(img, max_side=512)
    assert url.startswith("data:image/jpeg;base64,")
    back = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert back.size == (512, 256)


def test_connection_refused_is_a_clear_per_image_failure(engine_env, events, fresh_cache):
    port = _free_port()  # nothing listens there
    eng = load_captioner(f"openai:http://127.0.0.1:{port}/v1#m")
    with pytest.raises(EngineUnavailable) as exc:
        eng.caption(make_test_images(2), G)
    assert set(exc.value.failures) == {0, 1} and exc.value.partial == [None, None]
    assert "unavailable after 3 attempt(s)" in exc.value.failures[0] and "refused" in exc.value.failures[0].lower()
    assert sum(1 for e in events if e[0] == "request_retry") == 4
    assert sum(1 for e in events if e[0] == "request_failed") == 2


# -- against transformers serve ------------------------------------------------------------------

@pytest.mark.slow
def test_engine_captions_through_transformers_serve(server, engine_env, events, fresh_cache):
    eng = load_captioner(server.spec)
    assert isinstance(eng, OpenAIEngine) and eng.concurrency == 2
    images = make_test_images(3)
    res = eng.caption(images, G)
    assert len(res) == 3
    for r in res:
        assert r.text and r.model_id == server.spec and r.details["engine"] == server.spec
        # transformers serve ignores the logprobs field: the confidence source is unknown
        assert r.details["confidence_source"] == "unknown" and r.candidates[0].sequence_score is None
        assert 0.0 <= r.confidence <= 1.0
        assert r.style == "alt" and r.prompt.startswith("Write alt text for this image in English")
    assert sum(1 for e in events if e[0] == "request_ok") == 3
    res = eng.caption(images[:1], GenerationParams(num_beams=1, max_length=6, style="tags", language="de"))
    assert res[0].language == "de" and "German" in res[0].prompt and isinstance(res[0].tags, list)

    # a wrong model name is a 400 from the server: reported at once, not retried
    events.clear()
    wrong = load_captioner(f"openai:{server.url}#no/such-model")
    with pytest.raises(EngineUnavailable) as exc:
        wrong.caption(images[:2], G)
    assert set(exc.value.failures) == {0, 1}
    assert all("HTTP 400" in why and "no/such-model" in why for why in exc.value.failures.values())
    assert [e[0] for e in events] == ["request_failed", "request_failed"]
    assert all(e[2]["attempts"] == 1 for e in events)


@pytest.mark.slow
def test_server_killed_mid_batch_loses_nothing_and_fallback_captions(server, vlm_folder, engine_env, fresh_cache):
    images = make_test_images(6)
    eng = load_captioner(server.spec)

    def kill_after_first(event, engine, info):
        if event == "request_ok":
            server.stop()

    add_engine_listener(kill_after_first)
    try:
        with pytest.raises(EngineUnavailable) as exc:
            eng.caption(images, G)
    finally:
        remove_engine_listener(kill_after_first)
    err = exc.value
    done = [i for i, r in enumerate(err.partial) if r is not None]
    assert done and err.failures and sorted(done + list(err.failures)) == list(range(6))
    assert all(err.partial[i].text for i in done)
    assert all("unavailable after" in why for why in err.failures.values())

    # the same batch through a fallback chain: the dead server first, then the local tiny model
    fb = load_captioner(f"fallback:{server.spec}|{vlm_folder}")
    assert isinstance(fb, FallbackCaptioner)
    res = fb.caption(images, G)
    assert len(res) == 6 and all(r.text for r in res)
    for r in res:
        assert r.details["fallback"]["engine"] == vlm_folder and r.model_id == vlm_folder
        assert r.details["fallback"]["failed"][0]["engine"] == server.spec
        assert "unavailable" in r.details["fallback"]["failed"][0]["error"]


@pytest.mark.slow
def test_fallback_keeps_what_the_server_captioned_before_dying(server, vlm_folder, engine_env, events,
                                                                fresh_cache):
    images = make_test_images(5)
    fb = load_captioner(f"fallback:{server.spec}|{vlm_folder}")

    def kill_after_first(event, engine, info):
        if event == "request_ok":
            server.stop()

    add_engine_listener(kill_after_first)
    try:
        res = fb.caption(images, G)
    finally:
        remove_engine_listener(kill_after_first)
    by_engine = [r.details["fallback"]["engine"] for r in res]
    assert len(res) == 5 and all(r.text for r in res)
    assert server.spec in by_engine and vlm_folder in by_engine
    for r in res:
        if r.details["fallback"]["engine"] == server.spec:
            assert r.details["fallback"]["failed"] == [] and r.details["confidence_source"] == "unknown"
        else:
            assert r.details["fallback"]["failed"][0]["engine"] == server.spec
    assert any(e[0] == "engine_failed" and e[1] == server.spec for e in events)
    assert any(e[0] == "fallback_used" and e[1] == vlm_folder for e in events)


def test_fallback_skips_unloadable_and_unsupported_members(tiny_blip_dir, images, fresh_cache, tmp_path,
                                                           monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MLCORE_HF_CACHE", str(tmp_path))
    fb = load_captioner(f"fallback:smolvlm-256m|{tiny_blip_dir}")
    res = fb.caption(images[:2], G)
    assert [r.details["fallback"]["engine"] for r in res] == [tiny_blip_dir] * 2
    assert "not in the local Hugging Face cache" in res[0].details["fallback"]["failed"][0]["error"]
    assert res[0].details["fallback"]["failed"][0]["engine"] == "smolvlm-256m"
    # a style no member can write: the clear UnsupportedStyle, not a generic failure
    from mlcore.styles import UnsupportedStyle

    with pytest.raises(UnsupportedStyle):
        load_captioner(f"fallback:{tiny_blip_dir}").caption(images[:1], GenerationParams(style="tags"))


def test_an_ensemble_mixes_a_server_and_a_local_model_and_survives_the_server_dying(
        server, tiny_blip_dir, engine_env, fresh_cache):
    images = make_test_images(3)
    ens = load_captioner(f"ensemble:{server.spec},{tiny_blip_dir}")
    res = ens.caption(images, G)
    assert len(res) == 3 and all(r.text for r in res)
    for r in res:
        members = {m["model_id"]: m for m in r.details["members"]}
        assert set(members) == {server.spec, tiny_blip_dir}
        assert members[server.spec]["text"] and "error" not in members[server.spec]
        # the server returns no logprobs: its candidate's sequence term is unknown (0), so the
        # local model's measured candidate wins the confidence pick, and says where it came from
        assert r.details["chosen_model"] == tiny_blip_dir and r.details["confidence_source"] == "model_scores"
    consensus = load_captioner(f"ensemble:{server.spec},{server.spec};pick=consensus").caption(images[:1], G)[0]
    assert consensus.details["chosen_model"] == server.spec and consensus.details["confidence_source"] == "unknown"

    server.stop()  # the engine is down: the ensemble captions from the local member and says why
    res = ens.caption(images, G)
    assert len(res) == 3 and all(r.text for r in res)
    for r in res:
        members = {m["model_id"]: m for m in r.details["members"]}
        assert "unavailable after" in members[server.spec]["error"] and "text" not in members[server.spec]
        assert members[tiny_blip_dir]["text"] and r.details["chosen_model"] == tiny_blip_dir

    # no member answers: every image is reported failed with each member's reason, nothing invented
    only_server = load_captioner(f"ensemble:{server.spec},{server.spec};pick=consensus")
    with pytest.raises(EngineUnavailable) as exc:
        only_server.caption(images[:2], G)
    assert exc.value.engine == only_server.model_id and set(exc.value.failures) == {0, 1}
    assert exc.value.partial == [None, None] and server.spec in exc.value.failures[0]


class _SpecServer:
    """A loopback HTTP server answering /v1/chat/completions in the response shape of the OpenAI API
    reference (choices[0].logprobs.content[*].logprob), as vLLM and OpenAI do when asked for
    `logprobs`; `transformers serve` ignores the field, so this shape is checked here. With
    reject_logprobs it answers 400 "logprobs is not supported" to a request that asks for them,
    as some servers do. With refuse_image (a data URL) it answers 400 to a request with that image,
    as a server does to an image it cannot decode. With busy=[(status, Retry-After or None), ...] it
    answers those statuses to the first requests, one each, as a loaded server does. Records every
    request body."""

    def __init__(self, logprobs, reject_logprobs=False, refuse_image=None, busy=()):
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        owner = self
        self.bodies = []
        busy = list(busy)

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.bodies.append(body)
                image_url = body["messages"][0]["content"][0]["image_url"]["url"]
                retry_after = None
                if busy:
                    status, retry_after = busy.pop(0)
                    answer = {"error": {"message": "busy"}}
                elif reject_logprobs and body.get("logprobs"):
                    answer, status = {"error": {"message": "logprobs is not supported"}}, 400
                elif refuse_image is not None and image_url == refuse_image:
                    answer, status = {"error": {"message": "the image could not be decoded"}}, 400
                else:
                    choice = {"index": 0, "finish_reason": "stop",
                              "message": {"role": "assistant", "content": "The image shows a red bicycle."}}
                    if body.get("logprobs"):
                        choice["logprobs"] = {"content": [{"token": t, "logprob": lp, "bytes": None,
                                                           "top_logprobs": []} for t, lp in logprobs]}
                    answer, status = {"id": "x", "object": "chat.completion", "model": body["model"],
                                      "choices": [choice]}, 200
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_logprobs_from_the_server_become_a_measured_confidence(engine_env, fresh_cache):
    import math

    tokens = [("A", -0.1), (" red", -0.3), (" bicycle", -0.2), (".", -0.0)]
    srv = _SpecServer(tokens)
    try:
        res = load_captioner(f"openai:{srv.url}#vendor/vlm").caption(make_test_images(2), G)
    finally:
        srv.close()
    assert all(b["logprobs"] is True and b["temperature"] == 0.0 for b in srv.bodies)
    mean = sum(lp for _, lp in tokens) / len(tokens)
    for r in res:
        assert r.text == "A red bicycle." and r.details["confidence_source"] == "logprobs"  # preamble removed
        assert r.candidates[0].sequence_score == pytest.approx(mean)
        assert r.details.get("mean_logprob", mean) == pytest.approx(mean)
        assert 0.0 < r.confidence <= math.exp(mean) + 1e-6


def test_busy_answers_are_retried_after_the_servers_retry_after_else_with_back_off(engine_env, events, fresh_cache):
    srv = _SpecServer([("A", -0.1)], busy=[(503, "0.3"), (429, None), (502, "soon")])
    try:
        eng = load_captioner(f"openai:{srv.url}#vendor/vlm", concurrency=1, retries=3, backoff=0.05)
        res = eng.caption(make_test_images(1), G)
    finally:
        srv.close()
    assert res[0].text == "A red bicycle." and len(srv.bodies) == 4
    retries = [e[2] for e in events if e[0] == "request_retry"]
    assert [r["status"] for r in retries] == [503, 429, 502] and [r["attempt"] for r in retries] == [1, 2, 3]
    assert retries[0]["delay_s"] == pytest.approx(0.3)  # the server's Retry-After
    assert 0.1 <= retries[1]["delay_s"] <= 0.1 * 1.1  # backoff * 2**1, up to 10 % jitter
    assert 0.2 <= retries[2]["delay_s"] <= 0.2 * 1.1  # an unreadable Retry-After: the back-off
    assert [e[2]["attempts"] for e in events if e[0] == "request_ok"] == [4]
    # retries exhausted: the image fails with the last reason, nothing retried for ever
    srv = _SpecServer([("A", -0.1)], busy=[(503, "0")] * 3)
    try:
        eng = load_captioner(f"openai:{srv.url}#vendor/vlm", concurrency=1, retries=1, backoff=0.01)
        with pytest.raises(EngineUnavailable) as exc:
            eng.caption(make_test_images(1), G)
    finally:
        srv.close()
    assert "unavailable after 2 attempt(s): HTTP 503: busy" in exc.value.failures[0] and len(srv.bodies) == 2


def test_a_server_that_rejects_logprobs_is_asked_again_without_them(engine_env, fresh_cache):
    srv = _SpecServer([("A", -0.1)], reject_logprobs=True)
    try:
        eng = load_captioner(f"openai:{srv.url}#vendor/vlm")
        res = eng.caption(make_test_images(2), G)
    finally:
        srv.close()
    assert [b.get("logprobs") for b in srv.bodies][0] is True
    assert "logprobs" not in srv.bodies[-1]  # asked once with, then without, and not again with
    assert sum(1 for b in srv.bodies if b.get("logprobs")) <= 2  # at most the two concurrent first requests
    assert all(r.text == "A red bicycle." and r.details["confidence_source"] == "unknown" for r in res)


def test_isolated_captioning_keeps_what_an_engine_or_ensemble_captioned(engine_env, events, fresh_cache):
    """An EngineUnavailable already says which images failed and carries the others' results:
    caption_isolated (the worker's path) keeps them and asks no server again for any image (it used
    to bisect the batch: about 2n calls to every member, each with its retries)."""
    from mlcore.results import CaptionFailure

    images = make_test_images(3)
    down = f"openai:http://127.0.0.1:{_free_port()}/v1#a"  # nothing listens there
    probe = load_captioner(down)
    srv = _SpecServer([("A", -0.1)], refuse_image=image_data_url(images[1], probe.max_side))
    try:
        served = f"openai:{srv.url}#b"
        out = load_captioner(served).caption_isolated(images, G)
        assert len(srv.bodies) == 3  # one request per image
        assert [type(r).__name__ for r in out] == ["CaptionResult", "CaptionFailure", "CaptionResult"]
        assert "could not be decoded" in out[1].reason and out[1].error_type == "EngineUnavailable" and out[1].kind == FailureKind.ENGINE_UNAVAILABLE

        srv.bodies.clear()
        ens = load_captioner(f"ensemble:{down},{served}")
        out = ens.caption_isolated(images, G)
    finally:
        srv.close()
    assert out[0].ok and out[2].ok and out[0].text == "A red bicycle."
    assert {m["model_id"] for m in out[0].details["members"] if "error" in m} == {down}
    assert isinstance(out[1], CaptionFailure) and out[1].model_id == ens.model_id
    assert down in out[1].reason and "could not be decoded" in out[1].reason
    assert len(srv.bodies) == 3  # each member asked once per image
    assert sum(1 for e in events if e[0] == "request_failed" and e[1] == down) == 3
