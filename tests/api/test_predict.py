"""Predict and the demo: enqueue like any upload, wait for a real worker, 200 with the caption
or 202 with a URL to poll when the worker does not finish in time."""

import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from django_q.tasks import async_task
from rest_framework.test import APIClient

from accounts.models import User
from captions.models import Caption, Image
from captions.services.queue import image_delete
from captions.services.submission import image_submit
from tests.api.conftest import assert_error_format, run_worker_once, worker_in_background
from tests.images import image_bytes, upload
from tests.upload.test_upload import BAD_FILES, stored_files

PREDICT = "/api/v1/predict/"
DEMO = "/api/v1/demo/caption/"


def post_file(client, data=None, name="photo.jpg", path=PREDICT, **fields):
    payload = {"file": upload(name, image_bytes("JPEG") if data is None else data), **fields}
    return client.post(path, payload, format="multipart")


# --- Predict ----------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_predict_waits_for_the_worker_and_answers_200_with_the_caption(authed, user, tiny_model, settings):
    settings.PREDICT_WAIT_SECONDS = 60
    with worker_in_background():
        response = post_file(authed, num_beams="2")
    assert response.status_code == 200, response.json()
    body = response.json()
    image = Image.objects.get(public_id=body["id"])
    assert image.owner == user and image.status == Image.Status.DONE
    assert body["status"] == "done"
    assert body["caption"]["text"] == image.current_caption.text
    assert body["caption"]["params"]["num_beams"] == 2
    assert 0 <= body["caption"]["confidence"] <= 1


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_predict_is_answered_by_a_real_worker_cluster_through_the_broker(api, qcluster, settings):
    # The upload's wake-up message goes through the broker (ORM, or Redis with REDIS_URL) to the
    # cluster's worker process, which loads the model; the web side only waits on the database.
    settings.PREDICT_WAIT_SECONDS = 120
    response = post_file(api)
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "done" and response.json()["caption"]["model_id"]


@pytest.mark.django_db(transaction=True)
def test_predict_without_a_worker_answers_202_with_the_url_to_poll(api, user, settings, tiny_model):
    settings.PREDICT_WAIT_SECONDS = 0.3
    started = time.monotonic()
    response = post_file(api)
    assert 0.3 <= time.monotonic() - started < 5
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued" and body["caption"] is None
    assert response["Location"] == body["url"]
    # The poll URL gives the caption once a worker has been by.
    run_worker_once()
    polled = api.get(body["url"])
    assert polled.status_code == 200 and polled.json()["status"] == "done" and polled.json()["caption"]["text"]


@pytest.mark.django_db
def test_predict_reports_a_failed_image_as_finished(api, settings):
    settings.CAPTION_MODEL = "/nonexistent/model/folder"
    settings.PREDICT_WAIT_SECONDS = 0
    body = post_file(api).json()
    run_worker_once()
    polled = api.get(body["url"]).json()
    assert polled["status"] == "failed" and polled["error"]


@pytest.mark.django_db
@pytest.mark.parametrize("name, make, reason", BAD_FILES[:3], ids=[b[0] for b in BAD_FILES[:3]])
def test_predict_refuses_a_bad_file_with_its_reason(api, settings, name, make, reason):
    settings.PREDICT_WAIT_SECONDS = 0
    body = assert_error_format(post_file(api, make(), name=name), 400, field="files")
    assert reason in body["refused"][0]["reason"]
    assert not Image.objects.exists() and stored_files(settings) == []


@pytest.mark.django_db
def test_predict_bad_params_missing_file_and_oversize(api, settings):
    settings.PREDICT_WAIT_SECONDS = 0
    assert_error_format(post_file(api, temperature="9"), 400, field="temperature")
    assert_error_format(post_file(api, num_beams="0"), 400, field="num_beams")
    assert_error_format(api.post(PREDICT, {}, format="multipart"), 400, field="files")
    assert_error_format(api.post(PREDICT, {"file": "just text"}, format="multipart"), 400, field="file")
    settings.MAX_UPLOAD_BYTES = 50_000
    assert_error_format(post_file(api, image_bytes("BMP", size=(200, 200)), name="big.bmp"), 413, field="files")
    assert not Image.objects.exists()


@pytest.mark.django_db
def test_predict_needs_authentication(anon):
    assert_error_format(post_file(anon), 401)
    assert_error_format(post_file(anon, HTTP_AUTHORIZATION="Api-Key nope.nope"), 401)
    assert not Image.objects.exists()


@pytest.mark.django_db
def test_predict_is_rate_limited_per_user_at_10_a_minute_by_default(api, user, settings):
    settings.PREDICT_WAIT_SECONDS = 0
    assert settings.API_RATE_PREDICT == "10/m"
    started = time.monotonic()
    for _ in range(10):
        assert post_file(api).status_code == 202
    response = post_file(api)
    assert response.status_code == 429, f"11th predict answered {response.status_code} after {time.monotonic() - started:.1f} s"
    assert_error_format(response, 429)
    assert 1 <= int(response["Retry-After"]) <= 60
    assert Image.objects.count() == 10


# --- The demo -------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_demo_captions_an_anonymous_upload_and_keeps_nothing(tiny_model, settings):
    settings.PREDICT_WAIT_SECONDS = 60
    with worker_in_background():
        response = post_file(APIClient(), path=DEMO)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "done" and body["caption"]["text"]
    assert set(body["caption"]) == {"text", "confidence", "alternatives", "model_id"}
    # The upload, its captions and files are gone once the caption was handed out.
    assert not Image.objects.exists() and not Caption.objects.exists()
    assert stored_files(settings) == []
    assert_error_format(APIClient().get(body["url"]), 404)
    # The demo's owner is a system account that cannot sign in.
    owner = User.objects.get(email=settings.DEMO_USER_EMAIL)
    assert not owner.is_active and not owner.has_usable_password()


@pytest.mark.django_db(transaction=True)
def test_a_slow_demo_answers_202_then_the_poll_hands_out_the_caption_once(tiny_model, settings):
    settings.PREDICT_WAIT_SECONDS = 0
    client = APIClient()
    response = post_file(client, path=DEMO)
    assert response.status_code == 202
    body = response.json()
    assert response["Location"] == body["url"] and body["caption"] is None
    still = client.get(body["url"])
    assert still.status_code == 202 and Image.objects.count() == 1
    run_worker_once()
    done = client.get(body["url"])
    assert done.status_code == 200 and done.json()["caption"]["text"]
    assert not Image.objects.exists() and stored_files(settings) == []
    assert client.get(body["url"]).status_code == 404


@pytest.mark.django_db
def test_demo_has_a_smaller_size_limit(settings):
    settings.DEMO_MAX_UPLOAD_BYTES = 20_000
    response = post_file(APIClient(), image_bytes("BMP", size=(120, 120)), name="big.bmp", path=DEMO)
    assert "demo accepts files up to" in assert_error_format(response, 413)["detail"]
    assert not Image.objects.exists()


@pytest.mark.django_db
def test_demo_refuses_bad_files_and_params(settings):
    settings.PREDICT_WAIT_SECONDS = 0
    client = APIClient()
    assert_error_format(post_file(client, b"not an image", path=DEMO), 400, field="files")
    assert_error_format(post_file(client, path=DEMO, num_beams="0"), 400, field="num_beams")
    assert not Image.objects.exists()


@pytest.mark.django_db
def test_demo_is_rate_limited_per_address(settings):
    settings.PREDICT_WAIT_SECONDS = 0
    settings.API_RATE_DEMO = "2/h"
    client = APIClient(REMOTE_ADDR="198.51.100.4")
    for _ in range(2):
        assert post_file(client, path=DEMO).status_code == 202
    response = post_file(client, path=DEMO)
    assert_error_format(response, 429)
    assert 1 <= int(response["Retry-After"]) <= 3600
    assert post_file(APIClient(REMOTE_ADDR="198.51.100.5"), path=DEMO).status_code == 202


@pytest.mark.django_db
def test_demo_can_be_switched_off(settings):
    settings.DEMO_ENABLED = False
    assert_error_format(post_file(APIClient(), path=DEMO), 404)


@pytest.mark.django_db
def test_demo_poll_only_knows_demo_uploads(user):
    image = image_submit(owner=user, files=[upload("mine.jpg", image_bytes("JPEG"))]).accepted[0]
    assert_error_format(APIClient().get(reverse("api:demo-caption-poll", args=[image.public_id])), 404)


@pytest.mark.django_db
def test_uncollected_demo_uploads_are_purged_on_schedule(user, settings, django_capture_on_commit_callbacks, schedules):
    from django_q.models import Schedule

    settings.PREDICT_WAIT_SECONDS = 0
    settings.DEMO_RETENTION_MINUTES = 10
    post_file(APIClient(), path=DEMO)
    post_file(APIClient(), path=DEMO, data=image_bytes("PNG"))
    old, fresh = Image.objects.order_by("id")
    Image.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(minutes=11))
    mine = image_submit(owner=user, files=[upload("mine.jpg", image_bytes("JPEG"))]).accepted[0]
    Image.objects.filter(pk=mine.pk).update(created_at=timezone.now() - timedelta(days=1))
    old_file = Path(settings.MEDIA_ROOT) / old.file.name

    schedule = Schedule.objects.get(func="captions.tasks.demo_images_purge")
    with django_capture_on_commit_callbacks(execute=True):
        async_task(schedule.func, sync=True)
    assert set(Image.objects.values_list("pk", flat=True)) == {fresh.pk, mine.pk}
    assert not old_file.exists()


@pytest.mark.django_db(transaction=True)
def test_an_image_deleted_while_predict_waits_answers_404_in_the_error_format(api, settings):
    import threading

    from django.db import connection

    settings.PREDICT_WAIT_SECONDS = 10

    def delete_once_stored():
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                image = Image.objects.first()
                if image is not None:
                    image_delete(image=image)
                    return
                time.sleep(0.05)
        finally:
            connection.close()

    deleter = threading.Thread(target=delete_once_stored)
    deleter.start()
    started = time.monotonic()
    response = post_file(api)
    deleter.join()
    body = assert_error_format(response, 404)
    assert "deleted" in body["detail"]
    assert time.monotonic() - started < 8  # noticed during the wait, not at its end
