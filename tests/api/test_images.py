"""The images API: upload (per-file results), list with filters and pages, detail, delete,
retry and caption history, each for its owner only."""

import os
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from captions.caption_request import caption_request_check
from captions.models import Batch, Caption, Image
from captions.services.submission import image_submit
from tests.api.conftest import assert_error_format, run_worker_once
from tests.images import image_bytes, upload
from tests.upload.test_upload import BAD_FILES, stored_files

pytestmark = pytest.mark.django_db

IMAGES = "/api/v1/images/"


def post_files(client, *files, **fields):
    return client.post(IMAGES, {"files": list(files), **fields}, format="multipart")


def detail_url(image) -> str:
    return reverse("api:image-detail", kwargs={"public_id": image.public_id})


def submit(owner, *files, params=None) -> list[Image]:
    request = caption_request_check(params or {}, owner=owner, offered_model=False)
    return image_submit(owner=owner, files=list(files), request=request).accepted


# --- Upload ------------------------------------------------------------------------------------------


def test_upload_answers_202_with_each_image_and_queues_it(authed, user, settings):
    response = post_files(authed, upload("beach.jpg", image_bytes("JPEG")))
    assert response.status_code == 202
    body = response.json()
    assert body["batch"] is None and body["refused"] == []
    (item,) = body["images"]
    image = Image.objects.get(public_id=item["id"])
    assert image.owner == user and image.status == Image.Status.QUEUED
    assert item == {
        "id": str(image.public_id),
        "url": f"http://testserver{detail_url(image)}",
        "status": "queued",
        "filename": "beach.jpg",
    }
    assert len(stored_files(settings)) == 2  # the image and its thumbnail


def test_several_files_form_a_batch(api):
    response = post_files(api, upload("a.jpg", image_bytes("JPEG")), upload("b.png", image_bytes("PNG"), "image/png"))
    assert response.status_code == 202
    batch = Batch.objects.get()
    assert response.json()["batch"] == batch.pk and batch.images.count() == 2


def test_refused_files_are_listed_with_reasons_and_the_rest_go_on(api):
    response = post_files(api, upload("good.jpg", image_bytes("JPEG")), upload("bad.jpg", b"not an image"))
    assert response.status_code == 202
    body = response.json()
    assert [i["filename"] for i in body["images"]] == ["good.jpg"]
    assert body["refused"] == [{"filename": "bad.jpg", "reason": body["refused"][0]["reason"]}]
    assert "Not a supported image" in body["refused"][0]["reason"]


@pytest.mark.parametrize("name, make, reason", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_a_bad_file_is_a_400_with_its_reason_and_nothing_is_stored(api, settings, name, make, reason):
    response = post_files(api, upload(name, make()))
    body = assert_error_format(response, 400, field="files")
    assert body["code"] == "files_refused"
    assert body["refused"][0]["filename"] == name and reason in body["refused"][0]["reason"]
    assert any(message.startswith(f"{name}:") and reason in message for message in body["errors"]["files"])
    assert not Image.objects.exists() and stored_files(settings) == []


def test_an_oversize_file_is_dropped_while_streaming_and_is_a_413(api, settings):
    settings.MAX_UPLOAD_BYTES = 50_000
    response = post_files(api, upload("huge.bmp", image_bytes("BMP", size=(200, 200)), "image/bmp"))
    body = assert_error_format(response, 413, field="files")
    assert "huge.bmp" in body["errors"]["files"][0] and "larger than" in body["errors"]["files"][0]
    assert not Image.objects.exists() and stored_files(settings) == []


def test_an_oversize_file_among_good_ones_is_refused_by_name(api, settings):
    settings.MAX_UPLOAD_BYTES = 50_000
    response = post_files(api, upload("ok.jpg", image_bytes("JPEG")), upload("huge.bmp", image_bytes("BMP", size=(200, 200))))
    assert response.status_code == 202
    assert [r["filename"] for r in response.json()["refused"]] == ["huge.bmp"]


def test_a_body_over_the_total_limit_is_a_413_before_reading(api, settings):
    settings.MAX_UPLOAD_BYTES = 1000
    settings.MAX_FILES_PER_UPLOAD = 2
    response = post_files(api, upload("a.bmp", os.urandom(3 * 1024 * 1024)))
    assert response.status_code == 413
    assert "at most 2 files" in response.json()["detail"]


def test_too_many_files_is_a_400_naming_files(api, settings):
    settings.MAX_FILES_PER_UPLOAD = 2
    response = post_files(api, *[upload(f"{i}.jpg", image_bytes("JPEG")) for i in range(3)])
    assert "at most 2" in assert_error_format(response, 400, field="files")["detail"]
    assert not Image.objects.exists()


def test_no_file_is_a_400(api):
    assert "at least one image" in assert_error_format(post_files(api), 400, field="files")["detail"]


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("num_beams", "0", "between"),
        ("temperature", "9", "between"),
        ("num_beams", "many", "integer"),
        ("top_p", "high", "number"),
        ("do_sample", "perhaps", "boolean"),
        ("num_beam", "3", "Unknown field"),
        ("min_length", "60", "max_length"),
    ],
)
def test_bad_generation_params_are_a_400_naming_the_field(api, settings, field, value, words):
    response = post_files(api, upload("a.jpg", image_bytes("JPEG")), **{field: value})
    body = assert_error_format(response, 400, field=field)
    assert words.lower() in " ".join(body["errors"][field]).lower()
    assert body["detail"].startswith(f"{field}:")
    assert not Image.objects.exists() and stored_files(settings) == []


def test_params_are_stored_with_the_image(api):
    response = post_files(api, upload("a.jpg", image_bytes("JPEG")), num_beams="5", temperature="0.7", do_sample="true")
    assert response.status_code == 202
    params = Image.objects.get().params
    assert params["num_beams"] == 5 and params["temperature"] == 0.7 and params["do_sample"] is True


def test_json_body_is_a_415(api):
    response = api.post(IMAGES, {"files": []}, format="json")
    assert assert_error_format(response, 415)["code"] == "unsupported_media_type"


def test_upload_needs_authentication(anon):
    assert_error_format(post_files(anon, upload("a.jpg", image_bytes("JPEG"))), 401)
    assert not Image.objects.exists()


def test_uploads_are_rate_limited_per_user(api, other_api, settings):
    settings.API_RATE_UPLOAD = "2/h"
    for _ in range(2):
        assert post_files(api, upload("a.jpg", image_bytes("JPEG"))).status_code == 202
    response = post_files(api, upload("a.jpg", image_bytes("JPEG")))
    assert_error_format(response, 429)
    assert int(response["Retry-After"]) >= 1
    assert Image.objects.count() == 2
    assert post_files(other_api, upload("a.jpg", image_bytes("JPEG"))).status_code == 202  # counted per user
    assert api.get(IMAGES).status_code == 200  # reading is not limited


# --- Detail, history, delete, retry ----------------------------------------------------------------------


def test_detail_shows_the_caption_alternatives_confidence_model_and_timings(authed, user, tiny_model):
    image = submit(user, upload("a.jpg", image_bytes("JPEG")), params={"num_beams": 2, "num_alternatives": 2})[0]
    queued = authed.get(detail_url(image)).json()
    assert queued["status"] == "queued" and queued["caption"] is None
    run_worker_once()
    body = authed.get(detail_url(image)).json()
    assert body["status"] == "done" and body["finished_at"]
    caption = body["caption"]
    stored = Caption.objects.get(image=image)
    assert caption["text"] == stored.text
    assert 0 <= caption["confidence"] <= 1
    assert caption["model_id"] == stored.model_id and caption["model_version"]
    assert len(caption["alternatives"]) == 2 and {"text", "score"} <= set(caption["alternatives"][0])
    assert caption["inference_ms"] > 0 and caption["timings"]
    assert caption["params"]["num_beams"] == 2
    assert body["needs_review"] == caption["needs_review"]
    assert (body["width"], body["height"], body["format"]) == (64, 48, "JPEG")


def test_caption_history_lists_every_caption_newest_first(api, user):
    image = submit(user, upload("a.jpg", image_bytes("JPEG")))[0]
    for text in ("first", "second"):
        Caption.objects.create(image=image, text=text, source=Caption.Source.HUMAN)
    body = api.get(reverse("api:image-captions", kwargs={"public_id": image.public_id})).json()
    assert [c["text"] for c in body["results"]] == ["second", "first"]
    assert body["count"] == 2


def test_delete_removes_the_image_its_captions_and_files(api, user, settings, django_capture_on_commit_callbacks):
    image = submit(user, upload("a.jpg", image_bytes("JPEG")))[0]
    Caption.objects.create(image=image, text="x")
    files = [Path(settings.MEDIA_ROOT) / image.file.name, Path(settings.MEDIA_ROOT) / image.thumbnail.name]
    assert all(f.exists() for f in files)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(detail_url(image))
    assert response.status_code == 204
    assert not Image.objects.exists() and not Caption.objects.exists()
    assert not any(f.exists() for f in files)
    assert_error_format(api.get(detail_url(image)), 404)


def test_retry_queues_a_failed_image_again(api, user):
    image = submit(user, upload("a.jpg", image_bytes("JPEG")))[0]
    conflict = api.post(reverse("api:image-retry", kwargs={"public_id": image.public_id}))
    assert "failed" in assert_error_format(conflict, 409)["detail"]
    Image.objects.filter(pk=image.pk).update(status=Image.Status.FAILED, error="boom", attempts=3)
    response = api.post(reverse("api:image-retry", kwargs={"public_id": image.public_id}))
    assert response.status_code == 202
    assert response.json()["status"] == "queued" and response.json()["attempts"] == 0


def test_another_users_image_is_a_404_everywhere(api, other_user):
    image = submit(other_user, upload("a.jpg", image_bytes("JPEG")))[0]
    Image.objects.filter(pk=image.pk).update(status=Image.Status.FAILED)
    key = {"public_id": image.public_id}
    assert_error_format(api.get(detail_url(image)), 404)
    assert_error_format(api.delete(detail_url(image)), 404)
    assert_error_format(api.post(reverse("api:image-retry", kwargs=key)), 404)
    assert_error_format(api.get(reverse("api:image-captions", kwargs=key)), 404)
    assert Image.objects.filter(pk=image.pk, status="failed").exists()
    assert api.get(IMAGES).json()["count"] == 0


def test_unknown_ids_are_a_404(api):
    assert_error_format(api.get(f"{IMAGES}{uuid.uuid4()}/"), 404)
    assert_error_format(api.get(f"{IMAGES}not-a-uuid/"), 404)


def test_image_endpoints_need_authentication(anon, user):
    image = submit(user, upload("a.jpg", image_bytes("JPEG")))[0]
    key = {"public_id": image.public_id}
    for response in (
        anon.get(IMAGES),
        anon.get(detail_url(image)),
        anon.delete(detail_url(image)),
        anon.post(reverse("api:image-retry", kwargs=key)),
        anon.get(reverse("api:image-captions", kwargs=key)),
    ):
        assert_error_format(response, 401)
    assert Image.objects.exists()


def test_wrong_method_is_a_405(api, user):
    image = submit(user, upload("a.jpg", image_bytes("JPEG")))[0]
    assert_error_format(api.put(detail_url(image), {}), 405)
    assert_error_format(api.delete(IMAGES), 405)


# --- List: pages and filters ----------------------------------------------------------------------------------


def test_the_list_is_paginated_newest_first(api, user):
    images = submit(user, *[upload(f"{i}.png", image_bytes("PNG", color=(i, 0, 0))) for i in range(5)])
    first = api.get(IMAGES, {"page_size": 2}).json()
    assert first["count"] == 5 and len(first["results"]) == 2 and first["previous"] is None
    seen = [r["id"] for r in first["results"]]
    page = first
    while page["next"]:
        page = api.get(page["next"]).json()
        seen += [r["id"] for r in page["results"]]
    assert seen == [str(i.public_id) for i in sorted(images, key=lambda i: (i.created_at, i.pk), reverse=True)]
    assert_error_format(api.get(IMAGES, {"page": 99}), 404)


def test_filters_by_status_review_batch_and_creation_time(api, user, other_user):
    batch_images = submit(user, upload("b1.jpg", image_bytes("JPEG")), upload("b2.png", image_bytes("PNG")))
    lone = submit(user, upload("lone.jpg", image_bytes("JPEG", color=(1, 2, 3))))[0]
    submit(other_user, upload("bob.jpg", image_bytes("JPEG")))
    Image.objects.filter(pk=batch_images[0].pk).update(status=Image.Status.DONE)
    review = Caption.objects.create(image=batch_images[0], text="unsure", needs_review=True)
    Image.objects.filter(pk=batch_images[0].pk).update(current_caption=review)
    Image.objects.filter(pk=lone.pk).update(created_at=timezone.now() - timedelta(days=3))

    def names(**query):
        response = api.get(IMAGES, query)
        assert response.status_code == 200, response.json()
        return sorted(r["filename"] for r in response.json()["results"])

    assert names() == ["b1.jpg", "b2.png", "lone.jpg"]
    assert names(status="done") == ["b1.jpg"]
    assert names(status="queued") == ["b2.png", "lone.jpg"]
    assert names(needs_review="true") == ["b1.jpg"]
    assert names(needs_review="false") == ["b2.png", "lone.jpg"]
    assert names(batch=batch_images[0].batch_id) == ["b1.jpg", "b2.png"]
    two_days_ago = (timezone.now() - timedelta(days=2)).isoformat()
    assert names(created_after=two_days_ago) == ["b1.jpg", "b2.png"]
    assert names(created_before=two_days_ago) == ["lone.jpg"]
    assert names(status="done", batch=batch_images[0].batch_id, created_after=two_days_ago) == ["b1.jpg"]


@pytest.mark.parametrize(
    "query, field",
    [
        ({"status": "sleeping"}, "status"),
        ({"needs_review": "maybe"}, "needs_review"),
        ({"batch": "x"}, "batch"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"created_after": "2030-01-02T00:00:00Z", "created_before": "2030-01-01T00:00:00Z"}, "created_before"),
        ({"page_size": "1000"}, "page_size"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_filters_are_a_400_naming_the_field(api, query, field):
    assert_error_format(api.get(IMAGES, query), 400, field=field)


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"max_length": "-5", "num_beams": "1.5"}, {"max_length", "num_beams"}),  # a range and a type error
        ({"max_length": "-5", "temperature": "9", "top_p": "0"}, {"max_length", "temperature", "top_p"}),
        ({"num_beams": "x", "top_p": "high", "do_sample": "perhaps", "num_beam": "3"},
         {"num_beams", "top_p", "do_sample", "num_beam"}),
        ({"min_length": "60", "temperature": "9"}, {"min_length", "temperature"}),  # a cross-field rule too
    ],
)
def test_every_bad_generation_field_is_reported_at_once(api, settings, fields, expected):
    response = post_files(api, upload("a.jpg", image_bytes("JPEG")), **fields)
    body = assert_error_format(response, 400)
    assert set(body["errors"]) == expected
    first = next(iter(body["errors"]))
    assert body["detail"] == f"{first}: {body['errors'][first][0]}"
    assert not Image.objects.exists() and stored_files(settings) == []
