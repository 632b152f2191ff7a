"""Idempotency-Key on the upload and batch endpoints: a retry with the same key (the answer was
lost after COMMIT) returns the first answer and stores nothing again; a failed first attempt
leaves no record, so its retry runs; keys are per user and per endpoint."""

import pytest

from captions.models import Batch, IdempotentRequest, Image
from tests.images import image_bytes, upload

pytestmark = pytest.mark.django_db


def files(n=2):
    return [upload(f"f{i}.png", image_bytes("PNG", color=(i * 30, 10, 10))) for i in range(n)]


@pytest.mark.parametrize("url", ["/api/v1/images/", "/api/v1/batches/"])
def test_the_same_key_returns_the_first_answer_and_stores_nothing_again(api, url):
    first = api.post(url, {"files": files()}, format="multipart", HTTP_IDEMPOTENCY_KEY="k-123")
    assert first.status_code == 202, first.content
    again = api.post(url, {"files": files(3)}, format="multipart", HTTP_IDEMPOTENCY_KEY="k-123")
    assert again.status_code == 202
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Image.objects.count() == 2
    assert Batch.objects.count() == 1
    other = api.post(url, {"files": files()}, format="multipart", HTTP_IDEMPOTENCY_KEY="k-456")
    assert other.status_code == 202 and Image.objects.count() == 4
    unkeyed = api.post(url, {"files": files()}, format="multipart")
    assert unkeyed.status_code == 202 and Image.objects.count() == 6


def test_a_key_is_per_user_and_per_endpoint(api, other_api):
    assert api.post("/api/v1/images/", {"files": files()}, format="multipart", HTTP_IDEMPOTENCY_KEY="same").status_code == 202
    assert other_api.post("/api/v1/images/", {"files": files()}, format="multipart", HTTP_IDEMPOTENCY_KEY="same").status_code == 202
    assert api.post("/api/v1/batches/", {"files": files()}, format="multipart", HTTP_IDEMPOTENCY_KEY="same").status_code == 202
    assert Image.objects.count() == 6


def test_a_refused_upload_is_answered_the_same_on_retry(api):
    bad = [upload("bad.png", b"not an image")]
    first = api.post("/api/v1/images/", {"files": bad}, format="multipart", HTTP_IDEMPOTENCY_KEY="bad-1")
    assert first.status_code == 400
    again = api.post("/api/v1/images/", {"files": files()}, format="multipart", HTTP_IDEMPOTENCY_KEY="bad-1")
    assert again.status_code == 400 and again.json() == first.json()
    assert Image.objects.count() == 0


def test_a_first_attempt_that_failed_leaves_no_record_and_its_retry_runs(api, settings):
    settings.UPLOAD_IMAGE_VALIDATORS = ["tests.upload.upload_hooks.stop_storage_on_stop"]
    from tests.upload import upload_hooks

    def storage_down():
        from core.exceptions import StorageUnavailable

        raise StorageUnavailable()

    upload_hooks.storage_stopper = storage_down
    try:
        failed = api.post("/api/v1/images/", {"files": [upload("stop.png", image_bytes("PNG"))]}, format="multipart",
                          HTTP_IDEMPOTENCY_KEY="retry-me")
    finally:
        upload_hooks.storage_stopper = None
    assert failed.status_code == 503
    assert not IdempotentRequest.objects.exists()
    retried = api.post("/api/v1/images/", {"files": files()}, format="multipart", HTTP_IDEMPOTENCY_KEY="retry-me")
    assert retried.status_code == 202 and Image.objects.count() == 2


@pytest.mark.parametrize("key", ["x" * 256, "caf\u00e9", "tab\there"])
def test_a_malformed_key_is_a_400(api, key):
    response = api.post("/api/v1/images/", {"files": files()}, format="multipart", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400, response.content
    assert "Idempotency-Key" in response.json()["detail"]
    assert Image.objects.count() == 0
