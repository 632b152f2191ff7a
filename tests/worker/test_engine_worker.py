"""Styles and languages through the WORKER against a REAL inference server: `transformers serve` with a tiny
random LLaVA folder on a free local port, CAPTION_MODEL = openai:http://127.0.0.1:PORT/v1#<folder>.
The server is then killed mid-batch: no image may be lost (each is captioned, or queued again /
failed with a reason; none is done without a caption), and with a fallback spec to a local tiny
model the rest are captioned, each caption recording which engine failed."""

import pytest
from django.utils import timezone
from django_q.tasks import async_task
from prometheus_client import REGISTRY

from captions.models import Image
from mlcore.config import reload_config
from mlcore.engines import add_engine_listener, remove_engine_listener
from tests.images import image_bytes, upload
from tests.mlcore.test_openai_engine import Server

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def served_folder(tmp_path_factory) -> str:
    from benchmarks.testing_vlm import build_tiny_llava

    return str(build_tiny_llava(tmp_path_factory.mktemp("served") / "tiny-llava"))


@pytest.fixture
def engine_env(monkeypatch):
    monkeypatch.setenv("MLCORE_OPENAI_CONCURRENCY", "2")
    monkeypatch.setenv("MLCORE_OPENAI_RETRIES", "1")
    monkeypatch.setenv("MLCORE_OPENAI_BACKOFF", "0.05")
    monkeypatch.setenv("MLCORE_OPENAI_TIMEOUT", "60")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("MLCORE_OPENAI_API_KEY", raising=False)
    reload_config()
    yield
    monkeypatch.undo()
    reload_config()  # mlcore reads its environment once: later tests get the real one back
    reload_config()


@pytest.fixture
def server(served_folder, tmp_path, engine_env):
    s = Server(served_folder, str(tmp_path / "serve.log"))
    yield s
    s.stop()


def run_worker():
    return async_task("captions.tasks.caption_pending", sync=True)


def post_images(api, count: int, start: int = 0, **fields):
    files = [upload(f"i{n}.png", image_bytes("PNG", color=(n * 37 % 256, n * 91 % 256, 60))) for n in
             range(start, start + count)]
    response = api.post("/api/v1/batches/", {"files": files, "max_length": 6, **fields}, format="multipart")
    assert response.status_code == 202, response.json()
    return response.json()["batch"]


def engine_events(engine: str, event: str) -> float:
    return REGISTRY.get_sample_value("captionsite_engine_events_total", {"engine": engine, "event": event}) or 0.0


def test_the_worker_captions_through_a_real_server_and_loses_nothing_when_it_dies(
    api, settings, server, served_folder
):
    settings.CAPTION_MODEL = server.spec
    settings.CAPTION_BATCH_SIZE = 8
    engine_id = f"openai:{server.url}#{served_folder}"
    ok_before = engine_events(engine_id, "request_ok")

    # 1. Captioned over HTTP: style and language reach the server's prompt; the server returns no
    #    logprobs, so the confidence is "unknown" and the caption goes to review (the default policy).
    batch = post_images(api, 2, language="fr")
    run_worker()
    done = list(Image.objects.filter(batch_id=batch).select_related("current_caption"))
    assert [i.status for i in done] == ["done", "done"], [i.error for i in done]
    for image in done:
        caption = image.current_caption
        assert caption.text and caption.language == "fr" and "French" in caption.prompt
        assert caption.details["confidence_source"] == "unknown"
        assert caption.details["engine"] == engine_id
        assert caption.needs_review is True
    assert engine_events(engine_id, "request_ok") >= ok_before + 2  # monitoring's per-engine metric

    settings.CAPTION_UNKNOWN_CONFIDENCE_REVIEW = False
    settings.CAPTION_REVIEW_THRESHOLD = 0.0
    batch = post_images(api, 1, start=10)
    run_worker()
    assert Image.objects.get(batch_id=batch).current_caption.needs_review is False

    # 2. The server dies after its first answer of a batch of six.
    def kill_after_first_answer(event, engine, info):
        if event == "request_ok" and engine == engine_id:
            server.proc.kill()

    add_engine_listener(kill_after_first_answer)
    try:
        batch = post_images(api, 6, start=20)
        run_worker()
    finally:
        remove_engine_listener(kill_after_first_answer)
    assert server.proc.poll() is not None
    images = list(Image.objects.filter(batch_id=batch).select_related("current_caption"))
    assert len(images) == 6
    for image in images:
        if image.status == Image.Status.DONE:
            assert image.current_caption is not None and image.current_caption.text
        else:  # queued again for a retry, or failed for good: with the reason either way
            assert image.status in (Image.Status.QUEUED, Image.Status.FAILED)
            assert image.error, image
    lost = [i for i in images if i.status != Image.Status.DONE]
    assert lost, "the server was killed before the batch ended: some images must be waiting"
    assert engine_events(engine_id, "request_failed") + engine_events(engine_id, "request_retry") > 0

    # 3. With a fallback order, the same images are captioned by the local tiny model; each caption
    #    records the engine that failed and the one that answered.
    settings.CAPTION_MODEL = f"fallback:{server.spec}|{served_folder}"
    Image.objects.filter(batch_id=batch).exclude(status=Image.Status.DONE).update(
        status=Image.Status.QUEUED, available_at=timezone.now(), attempts=0
    )
    run_worker()
    for image in Image.objects.filter(pk__in=[i.pk for i in lost]).select_related("current_caption"):
        assert image.status == Image.Status.DONE, image.error
        fallback = image.current_caption.details["fallback"]
        assert fallback["position"] == 1 and fallback["engine"] != engine_id
        assert fallback["failed"] and fallback["failed"][0]["engine"] == engine_id and fallback["failed"][0]["error"]
        assert image.current_caption.details["confidence_source"] == "model_scores"
