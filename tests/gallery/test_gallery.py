"""The gallery, the live status cards and the detail page."""

from pathlib import Path
from urllib.parse import quote

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from captions.models import Caption, Image
from captions.services.submission import image_submit
from tests.images import image_bytes, upload

pytestmark = pytest.mark.django_db


def make_image(owner, name="a.jpg", **changes) -> Image:
    image = image_submit(owner=owner, files=[upload(name, image_bytes("JPEG"))]).accepted[0]
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
    assert html.count('hx-trigger="every 3s"') == 1  # one page-level poll, not one per card
    assert "0 of 1 finished" in html  # the work under way: since the oldest unfinished upload


def test_gallery_is_paginated(logged_in_client, user):
    for i in range(26):
        make_image(user, f"img-{i:02}.jpg")
    first = logged_in_client.get(reverse("captions:gallery"))
    assert len(first.context["page"].object_list) == 24
    second = logged_in_client.get(reverse("captions:gallery") + "?page=2")
    assert [i.original_filename for i in second.context["page"].object_list] == ["img-01.jpg", "img-00.jpg"]


def test_one_poll_swaps_the_changed_cards_and_stops_when_all_are_final(logged_in_client, user):
    first, second = make_image(user, "first.jpg"), make_image(user, "second.jpg")
    page = logged_in_client.get(reverse("captions:gallery")).content.decode()
    poll_url = reverse("captions:gallery_poll")
    assert page.count(poll_url) == 1 and "every 3s" in page

    since = first.batch.created_at.isoformat() if first.batch else first.created_at.isoformat()
    assert f"since={quote(since)}" in page
    watch = f"{first.public_id}:queued,{second.public_id}:queued"
    unchanged = logged_in_client.get(poll_url, {"watch": watch, "since": since}, headers={"HX-Request": "true"}).content.decode()
    assert "hx-swap-oob" not in unchanged and "every 3s" in unchanged and "0 of 2 finished" in unchanged

    Image.objects.filter(pk=second.pk).update(status=Image.Status.PROCESSING, claim_expires_at=timezone.now())
    finish_with_caption(first, "A cat asleep.")
    answer = logged_in_client.get(poll_url, {"watch": watch, "since": since}, headers={"HX-Request": "true"}).content.decode()
    assert answer.count("hx-swap-oob") == 2  # both changed: one is done, one is being captioned
    assert "A cat asleep." in answer and "Captioning…" in answer and "1 of 2 finished" in answer
    next_poll = answer.split('hx-get="')[1].split('"')[0]
    assert f"watch={second.public_id}%3Aprocessing&amp;" in next_poll and str(first.public_id) not in next_poll

    finish_with_caption(second, "A dog.")
    last = logged_in_client.get(poll_url, {"watch": f"{second.public_id}:processing", "since": since}).content.decode()
    assert "A dog." in last and "every 3s" not in last  # polling stops
    assert "2 of 2 finished" in last


@pytest.mark.parametrize("watch", ["nonsense", "123:queued", "{uuid}:bogus", ",".join(["{uuid}:queued"] * 1) + ",x:y"])
def test_poll_refuses_a_malformed_watch_list(logged_in_client, user, watch):
    image = make_image(user)
    response = logged_in_client.get(reverse("captions:gallery_poll"), {"watch": watch.format(uuid=image.public_id)})
    assert response.status_code == 400
    assert b"public_id:status" in response.content


@pytest.mark.parametrize("since", ["yesterday", "2026-01-01T10:00:00"])
def test_poll_refuses_a_bad_since(logged_in_client, since):
    response = logged_in_client.get(reverse("captions:gallery_poll"), {"watch": "", "since": since})
    assert response.status_code == 400 and b"ISO 8601" in response.content


def test_poll_shows_nothing_of_other_users_images(logged_in_client, make_user):
    theirs = make_image(make_user("eve@example.com"), "theirs.jpg")
    finish_with_caption(theirs, "A secret.")
    answer = logged_in_client.get(reverse("captions:gallery_poll"), {"watch": f"{theirs.public_id}:queued"}).content.decode()
    assert "A secret." not in answer and "theirs.jpg" not in answer


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
    image = make_image(
        user, status=Image.Status.FAILED, error="The model could not be loaded.", attempts=3,
        error_kind=Image.FailureKind.MODEL_UNAVAILABLE,
    )
    detail = logged_in_client.get(reverse("captions:image_detail", args=[image.public_id])).content.decode()
    # The owner gets a plain sentence, not the operator's reason; staff get both.
    assert "the captioning model could not be loaded" in detail and "Retry" in detail
    assert "The model could not be loaded." not in detail
    User.objects.filter(pk=user.pk).update(is_staff=True)
    detail = logged_in_client.get(reverse("captions:image_detail", args=[image.public_id])).content.decode()
    assert "the captioning model could not be loaded" in detail and "The model could not be loaded." in detail
    gallery = logged_in_client.get(reverse("captions:gallery")).content.decode()
    assert "The model could not be loaded." in gallery and "Full reason (staff)" in gallery

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = logged_in_client.post(reverse("captions:image_retry", args=[image.public_id]))
    assert response.status_code == 302
    image.refresh_from_db()
    assert image.status == Image.Status.QUEUED and image.attempts == 0 and image.error == ""
    assert len(callbacks) == 1  # a worker is woken


def test_a_failed_card_has_a_retry_button_that_goes_back_to_the_gallery(logged_in_client, user):
    failed = make_image(user, "broken.jpg", status=Image.Status.FAILED, error="boom", attempts=1)
    queued = make_image(user, "waiting.jpg")
    page = logged_in_client.get(reverse("captions:gallery") + "?status=failed").content.decode()
    retry_url = reverse("captions:image_retry", args=[failed.public_id])
    assert f'action="{retry_url}"' in page and "Retry<span class=\"visually-hidden\"> broken.jpg" in page
    assert reverse("captions:image_retry", args=[queued.public_id]) not in page  # only failed cards have one
    card = logged_in_client.get(reverse("captions:image_card", args=[failed.public_id])).content.decode()
    assert retry_url in card and "csrfmiddlewaretoken" in card

    response = logged_in_client.post(retry_url, {"next": reverse("captions:gallery") + "?status=failed"})
    assert response.status_code == 302 and response["Location"] == reverse("captions:gallery") + "?status=failed"
    failed.refresh_from_db()
    assert failed.status == Image.Status.QUEUED
    assert "broken.jpg was queued again." in logged_in_client.get(response["Location"]).content.decode()
    # A `next` off the site is ignored (no open redirect): back to the image's page.
    Image.objects.filter(pk=failed.pk).update(status=Image.Status.FAILED)
    response = logged_in_client.post(retry_url, {"next": "https://evil.example.com/"})
    assert response["Location"] == reverse("captions:image_detail", args=[failed.public_id])


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
