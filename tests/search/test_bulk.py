"""Select many: bulk approve, retry, re-caption, delete and export over the
ticked images or the whole search ("select all N matching"), from the gallery and the review
queue; each one transaction with a hard cap; a refused selection is a message, never a 500."""

import csv
import io
import json

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from captions.models import Caption, Image
from captions.services.submission import image_submit
from feedback.models import ReviewAction
from tests.images import image_bytes, upload


def _images(user, n, prefix="photo"):
    files = [upload(f"{prefix}-{i}.jpg", image_bytes("JPEG", size=(16, 12), color=(20 * i % 255, 60, 90))) for i in range(n)]
    return image_submit(owner=user, files=files).accepted


def _caption(image, text, *, confidence=0.2, needs_review=True):
    caption = Caption.objects.create(image=image, text=text, raw_text=text, confidence=confidence,
                                     model_id="tiny/blip", needs_review=needs_review, params={"num_beams": 3})
    Image.objects.filter(pk=image.pk).update(status=Image.Status.DONE, current_caption=caption, finished_at=timezone.now())
    return caption


def _messages(response):
    return [str(m) for m in response.context["messages"]] if response.context else []


@pytest.fixture
def gallery(user):
    """6 images: 3 captioned and needing review (cats), 2 failed, 1 queued."""
    images = _images(user, 6)
    for image in images[:3]:
        _caption(image, f"a cat on a sofa {image.original_filename}")
    Image.objects.filter(pk__in=[i.pk for i in images[3:5]]).update(status=Image.Status.FAILED, error="boom")
    return [Image.objects.get(pk=i.pk) for i in images]


@pytest.mark.django_db
def test_the_gallery_offers_checkboxes_and_a_bulk_bar(logged_in_client, gallery):
    html = logged_in_client.get(reverse("captions:gallery")).content.decode()
    assert html.count('class="select-box"') == 6
    assert 'form="bulk-form"' in html and 'id="bulk-form"' in html
    assert "Select all 6 images" in html
    assert 'src="/static/js/select.js"' in html


@pytest.mark.django_db
def test_bulk_approve_of_ticked_images(logged_in_client, user, gallery):
    ticked = [str(gallery[0].public_id), str(gallery[1].public_id), str(gallery[3].public_id)]
    response = logged_in_client.post(reverse("feedback:bulk_approve"), {"ids": ticked, "next": "/?q=cat"}, follow=True)
    assert response.redirect_chain[-1][0] == "/?q=cat"
    assert "Approved 2 captions." in _messages(response)
    assert ReviewAction.objects.filter(action="approve").count() == 2
    assert list(Caption.objects.filter(needs_review=True).values_list("image_id", flat=True)) == [gallery[2].pk]


@pytest.mark.django_db
def test_select_all_matching_applies_to_the_whole_search_not_the_page(logged_in_client, user, settings):
    images = _images(user, 30, prefix="dog")
    for image in images:
        _caption(image, "a dog")
    other = _images(user, 2, prefix="tree")
    for image in other:
        _caption(image, "a tree")
    page = logged_in_client.get(reverse("captions:gallery"), {"q": "dog"})
    assert len(page.context["page"].object_list) == 24 and "Select all 30 matching" in page.content.decode()
    response = logged_in_client.post(reverse("feedback:bulk_approve"), {"all": "1", "q": "dog"}, follow=True)
    assert "Approved 30 captions." in _messages(response)
    assert Caption.objects.filter(needs_review=True).count() == 2  # the trees were not in the search


@pytest.mark.django_db
def test_bulk_retry_requeues_only_failed_images(logged_in_client, gallery):
    ids = [str(i.public_id) for i in gallery]
    response = logged_in_client.post(reverse("captions:images_bulk"), {"action": "retry", "ids": ids}, follow=True)
    assert "2 failed images queued again." in _messages(response)
    assert Image.objects.filter(status=Image.Status.FAILED).count() == 0
    assert Image.objects.filter(status=Image.Status.DONE).count() == 3


@pytest.mark.django_db
def test_bulk_recaption_with_other_settings_and_a_bad_value(logged_in_client, gallery, settings):
    ids = [str(i.public_id) for i in gallery[:3]]
    bad = logged_in_client.post(reverse("captions:images_bulk"),
                                {"action": "recaption", "ids": ids, "model_spec": settings.CAPTION_MODEL, "num_beams": "99"}, follow=True)
    assert bad.status_code == 200 and any("99" in m or "less than" in m for m in _messages(bad))
    assert Image.objects.filter(status=Image.Status.DONE).count() == 3
    unknown = logged_in_client.post(reverse("captions:images_bulk"),
                                    {"action": "recaption", "ids": ids, "model_spec": "evil/model"}, follow=True)
    assert any("Select a valid choice" in m for m in _messages(unknown))
    ok = logged_in_client.post(reverse("captions:images_bulk"),
                               {"action": "recaption", "ids": ids, "model_spec": settings.CAPTION_MODEL, "num_beams": "5"}, follow=True)
    assert "3 images queued for a new caption." in _messages(ok)
    queued = Image.objects.filter(pk__in=[i.pk for i in gallery[:3]])
    assert {i.status for i in queued} == {"queued"} and {i.params["num_beams"] for i in queued} == {5}
    assert all(i.current_caption_id for i in queued)  # the caption stays until the new one is written


@pytest.mark.django_db
def test_bulk_delete_asks_first_with_a_count_then_removes_rows_and_files(
    logged_in_client, gallery, django_capture_on_commit_callbacks
):
    ids = [str(i.public_id) for i in gallery[:4]]
    paths = [p for i in gallery[:4] for p in (i.file.name, i.thumbnail.name) if p]
    assert paths and all(default_storage.exists(p) for p in paths)
    ask = logged_in_client.post(reverse("captions:images_bulk"), {"action": "delete", "ids": ids, "back": "q=cat"})
    assert ask.status_code == 200 and "Delete 4 images?" in ask.content.decode()
    assert Image.objects.count() == 6
    with django_capture_on_commit_callbacks(execute=True):
        with_capture = logged_in_client.post(reverse("captions:images_bulk"),
                                             {"action": "delete", "ids": ids, "confirm": "1", "back": "q=cat"}, follow=True)
    assert with_capture.redirect_chain[-1][0] == "/?q=cat"
    assert "4 images were deleted." in _messages(with_capture)
    assert Image.objects.count() == 2
    assert not any(default_storage.exists(p) for p in paths)


@pytest.mark.django_db
def test_bulk_export_of_a_selection_in_three_formats(logged_in_client, gallery):
    Caption.objects.filter(pk=gallery[0].current_caption_id).update(text='a "quoted" <b>cat</b> & =SUM(1)')
    ids = [str(gallery[0].public_id), str(gallery[3].public_id)]
    as_csv = logged_in_client.post(reverse("captions:images_bulk"), {"action": "export", "format": "csv", "ids": ids})
    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode())))
    assert [r["filename"] for r in rows] == ["photo-0.jpg", "photo-3.jpg"]
    as_json = json.loads(logged_in_client.post(reverse("captions:images_bulk"), {"action": "export", "format": "json", "ids": ids}).content)
    assert as_json[0]["caption"] == 'a "quoted" <b>cat</b> & =SUM(1)'
    as_html = logged_in_client.post(reverse("captions:images_bulk"), {"action": "export", "format": "html", "ids": ids})
    assert as_html["Content-Type"] == "text/html; charset=utf-8" and as_html["Content-Disposition"].endswith('.html"')
    assert as_html["Content-Disposition"].startswith("attachment;")
    html = as_html.content.decode()
    assert html.splitlines()[0] == '<img src="photo-0.jpg" alt="a &quot;quoted&quot; &lt;b&gt;cat&lt;/b&gt; &amp; =SUM(1)">'
    assert html.splitlines()[1] == '<!-- no caption yet: <img src="photo-3.jpg"> -->'  # never alt="" (decorative)
    assert 'alt=""' not in html


@pytest.mark.django_db
@pytest.mark.parametrize("data", [
    {"action": "retry"},                                   # nothing selected
    {"action": "retry", "ids": ["not-a-uuid"]},            # a malformed id
    {"action": "explode", "ids": []},                      # an unknown action
    {"action": "export", "format": "pdf", "all": "1"},     # an unknown format
    {"action": "retry", "all": "1", "rating": "9"},        # a bad search
])
def test_a_refused_selection_is_a_message(logged_in_client, gallery, data):
    response = logged_in_client.post(reverse("captions:images_bulk"), data, follow=True)
    assert response.status_code == 200
    assert any(m for m in _messages(response))
    assert Image.objects.filter(status=Image.Status.FAILED).count() == 2


@pytest.mark.django_db
def test_other_users_images_are_never_touched(client, make_user, gallery):
    eve = make_user("eve@example.com")
    client.force_login(eve)
    ids = [str(i.public_id) for i in gallery]
    client.post(reverse("captions:images_bulk"), {"action": "delete", "ids": ids, "confirm": "1"})
    client.post(reverse("feedback:bulk_approve"), {"ids": ids})
    client.post(reverse("feedback:bulk_approve"), {"captions": [str(i.current_caption_id) for i in gallery[:3]]})
    assert Image.objects.count() == 6 and ReviewAction.objects.count() == 0


@pytest.mark.django_db
def test_the_hard_cap_refuses_before_any_change(logged_in_client, user, monkeypatch):
    import captions.services.bulk as bulk

    monkeypatch.setattr(bulk, "BULK_LIMIT", 3)
    images = _images(user, 4)
    Image.objects.filter(owner=user).update(status=Image.Status.FAILED)
    response = logged_in_client.post(reverse("captions:images_bulk"), {"action": "retry", "all": "1"}, follow=True)
    assert any("at most 3" in m for m in _messages(response))
    assert Image.objects.filter(status=Image.Status.FAILED).count() == len(images)


@pytest.mark.django_db
def test_review_queue_approve_ticked_and_all_shown(logged_in_client, user):
    images = _images(user, 5)
    captions = [_caption(image, f"a bird {i}", confidence=0.1 * i) for i, image in enumerate(images)]
    page = logged_in_client.get(reverse("feedback:queue")).content.decode()
    assert page.count('name="captions"') == 5 and "Approve all shown" in page
    one = logged_in_client.post(reverse("feedback:bulk_approve"), {"captions": [str(captions[0].pk)]}, follow=True)
    assert "Approved 1 caption." in _messages(one)
    rest = [str(c.pk) for c in captions[1:]]
    response = logged_in_client.post(reverse("feedback:bulk_approve"), {"shown": rest, "captions": [rest[0]], "all_shown": "1"}, follow=True)
    assert "Approved 4 captions." in _messages(response)
    assert not Caption.objects.filter(needs_review=True).exists()
    bad = logged_in_client.post(reverse("feedback:bulk_approve"), {"captions": ["x"]}, follow=True)
    assert any("does not exist" in m for m in _messages(bad))


@pytest.mark.django_db
def test_a_caption_is_edited_from_its_gallery_card_without_a_rating(logged_in_client, user, gallery):
    """Item 11: each captioned card has an edit form; the new text is the alt text, the search
    is kept on the way back, and no star rating is needed."""
    page = logged_in_client.get(reverse("captions:gallery"), {"q": "cat"}).content.decode()
    caption = gallery[0].current_caption
    assert f'action="{reverse("feedback:edit", args=[caption.pk])}"' in page
    assert 'name="next" value="/?q=cat"' in page
    response = logged_in_client.post(reverse("feedback:edit", args=[caption.pk]),
                                     {"text": "a tabby cat asleep on a green sofa", "next": "/?q=cat"})
    assert response.status_code == 302 and response["Location"] == "/?q=cat"
    gallery[0].refresh_from_db()
    assert gallery[0].current_caption.text == "a tabby cat asleep on a green sofa"
    assert gallery[0].current_caption.source == "human"
    card = logged_in_client.get(reverse("captions:gallery"), {"q": "tabby"}).content.decode()
    assert 'alt="a tabby cat asleep on a green sofa"' in card
    empty = logged_in_client.post(reverse("feedback:edit", args=[gallery[0].current_caption_id]),
                                  {"text": "   ", "next": "/?q=cat"}, follow=True)
    assert any("empty" in m for m in _messages(empty))
