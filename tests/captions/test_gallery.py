"""The gallery, the live status cards and the detail page."""

from pathlib import Path

import pytest
from django.urls import reverse

from captions import services
from captions.models import Caption, Image
from tests.images import image_bytes, upload

pytestmark = pytest.mark.django_db


def make_image(owner, name="a.jpg", **changes) -> Image:
    image = services.image_submit(owner=owner, files=[upload(name, image_bytes("JPEG"))]).accepted[0]
    if changes:
        Image.objects.filter(pk=image.pk).update(**changes)
        image.refresh_from_db()
    return image


def finish_with_caption(image: Image, text: str = "A dog on a beach.") -> Caption:
    caption = Caption.objects.create(
        image=image, text=text, raw_text=text.lower(), confidence=0.83, model_id="tiny/blip",
        model_version="abc123", params={"num_beams": 3}, inference_ms=123.4,
    )
    Image.objects.filter(pk=image.pk).update(status=Image.Status.DONE, current_caption=caption)
    image.refresh_from_db()
    return caption


def test_gallery_lists_own_images_newest_first_with_badges(logged_in_client, user, make_user):
    older = make_image(user, "older.jpg")
    make_image(user, "newer.jpg")
    finish_with_caption(older, "A red square.")
    make_image(make_user("eve@example.com"), "not-yours.jpg")

    response = logged_in_client.get(reverse("captions:gallery"))
    html = response.content.decode()
    assert response.status_code == 200
    assert html.index("newer.jpg") < html.index("older.jpg")
    assert "not-yours.jpg" not in html
    assert "A red square." in html
    assert "badge-queued" in html and "badge-done" in html
    assert 'hx-trigger="every 2s"' in html  # the queued card polls


def test_gallery_is_paginated(logged_in_client, user):
    for i in range(26):
        make_image(user, f"img-{i:02}.jpg")
    first = logged_in_client.get(reverse("captions:gallery"))
    assert len(first.context["page"].object_list) == 24
    second = logged_in_client.get(reverse("captions:gallery") + "?page=2")
    assert [i.original_filename for i in second.context["page"].object_list] == ["img-01.jpg", "img-00.jpg"]


def test_card_polls_until_the_image_is_final(logged_in_client, user):
    image = make_image(user)
    url = reverse("captions:image_card", args=[image.public_id])
    queued = logged_in_client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "every 2s" in queued and "Queued" in queued

    finish_with_caption(image, "A cat asleep.")
    done = logged_in_client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "every 2s" not in done  # polling stops
    assert "A cat asleep." in done and "badge-done" in done


def test_detail_shows_caption_facts_history_and_copy_button(logged_in_client, user):
    image = make_image(user, "beach.jpg")
    finish_with_caption(image, "A dog on a beach.")
    response = logged_in_client.get(reverse("captions:image_detail", args=[image.public_id]))
    html = response.content.decode()
    assert response.status_code == 200
    for expected in ("A dog on a beach.", "tiny/blip", "123 ms", "num_beams=3", "Copy alt text", "Caption history"):
        assert expected in html
    assert "Retry" not in html


def test_failed_image_shows_reason_and_can_be_retried(logged_in_client, user, django_capture_on_commit_callbacks):
    image = make_image(user, status=Image.Status.FAILED, error="The model could not be loaded.", attempts=3)
    detail = logged_in_client.get(reverse("captions:image_detail", args=[image.public_id])).content.decode()
    assert "The model could not be loaded." in detail and "Retry" in detail

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = logged_in_client.post(reverse("captions:image_retry", args=[image.public_id]))
    assert response.status_code == 302
    image.refresh_from_db()
    assert image.status == Image.Status.QUEUED and image.attempts == 0 and image.error == ""
    assert len(callbacks) == 1  # a worker is woken


def test_retry_of_an_image_that_did_not_fail_is_refused(logged_in_client, user):
    image = make_image(user)
    response = logged_in_client.post(reverse("captions:image_retry", args=[image.public_id]), follow=True)
    assert "Only a failed image, or one whose worker stopped, can be retried." in response.content.decode()


def test_delete_removes_rows_and_files(logged_in_client, user, settings, django_capture_on_commit_callbacks):
    image = make_image(user)
    finish_with_caption(image)
    files = [Path(settings.MEDIA_ROOT) / image.file.name, Path(settings.MEDIA_ROOT) / image.thumbnail.name]
    assert all(f.exists() for f in files)
    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in_client.post(reverse("captions:image_delete", args=[image.public_id]))
    assert response.status_code == 302
    assert not Image.objects.exists() and not Caption.objects.exists()
    assert not any(f.exists() for f in files)


def test_images_are_served_to_their_owner_only(client, logged_in_client, user, make_user):
    image = make_image(user)
    for name in ("captions:image_original", "captions:image_thumbnail"):
        response = logged_in_client.get(reverse(name, args=[image.public_id]))
        assert response.status_code == 200
        assert response["Content-Type"].startswith("image/")

    client.force_login(make_user("eve@example.com"))
    for name in ("captions:image_original", "captions:image_thumbnail", "captions:image_detail", "captions:image_card"):
        assert client.get(reverse(name, args=[image.public_id])).status_code == 404
    assert client.post(reverse("captions:image_delete", args=[image.public_id])).status_code == 404
    assert Image.objects.filter(pk=image.pk).exists()


def test_admin_lists_and_searches_everything(client, make_user):
    admin_user = make_user("root@example.com", is_staff=True, is_superuser=True)
    image = make_image(admin_user, "searchable-name.jpg")
    finish_with_caption(image, "A lighthouse at dusk.")
    client.force_login(admin_user)
    for model in ("accounts/user", "captions/image", "captions/caption", "captions/batch"):
        assert client.get(f"/admin/{model}/").status_code == 200, model
    assert "searchable-name.jpg" in client.get("/admin/captions/image/?q=searchable").content.decode()
    assert "A lighthouse at dusk." in client.get("/admin/captions/caption/?q=lighthouse").content.decode()
    assert "root@example.com" in client.get("/admin/accounts/user/?q=root").content.decode()


def test_gallery_queries_do_not_grow_with_the_number_of_images(logged_in_client, user):
    def count_queries() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            assert logged_in_client.get(reverse("captions:gallery")).status_code == 200
        return len(queries)

    finish_with_caption(make_image(user, "first.jpg"))
    with_one = count_queries()
    for i in range(5):
        finish_with_caption(make_image(user, f"more-{i}.jpg"))
    assert count_queries() == with_one
