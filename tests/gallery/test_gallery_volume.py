"""The gallery at volume: the upload form folded away once there are images (and on its own
page), filters in the URL only when set, a remembered page size, one control per card for the
alt text (the rating is on the image page and in the review queue), each card's confidence,
source and needs-review, and the words a search matched marked."""

import re

import pytest
from django.urls import reverse

from captions.models import Caption
from tests.gallery.test_gallery import finish_with_caption, make_image

pytestmark = pytest.mark.django_db


def test_the_upload_form_is_open_for_a_new_user_and_folded_away_after(logged_in_client, user):
    page = logged_in_client.get(reverse("captions:gallery")).content.decode()
    assert '<h1 id="upload-heading">Upload images</h1>' in page and "upload-disclosure" not in page
    make_image(user, "first.jpg")
    page = logged_in_client.get(reverse("captions:gallery")).content.decode()
    disclosure = re.search(r'<details class="card upload-disclosure" id="upload-disclosure"([^>]*)>', page)
    assert disclosure and "open" not in disclosure.group(1)
    assert '<h1 id="images-heading">' in page and 'id="upload-form"' in page
    own = logged_in_client.get(reverse("captions:upload"))
    assert own.status_code == 200 and 'id="upload-form"' in own.content.decode()
    assert 'data-done="/"' in own.content.decode()  # the script goes to the gallery after sending


def test_empty_fields_leave_the_url(logged_in_client, user):
    make_image(user)
    response = logged_in_client.get(reverse("captions:gallery"), {"q": "dog", "status": "", "review": "", "sort": ""})
    assert response.status_code == 302 and response["Location"] == "/?q=dog"
    response = logged_in_client.get(reverse("captions:gallery"), {"q": "", "status": ""})
    assert response.status_code == 302 and response["Location"] == "/"
    page = logged_in_client.get("/?q=dog").content.decode()
    assert re.search(r'<form [^>]*id="search-form"[^>]*data-autosubmit data-drop-empty', page)


def test_the_page_size_is_remembered_and_a_bad_one_refused(logged_in_client, user):
    for i in range(50):
        make_image(user, f"img-{i:02}.jpg")
    cards = lambda response: response.content.decode().count('class="image-card ')  # noqa: E731
    assert cards(logged_in_client.get("/")) == 24
    assert cards(logged_in_client.get("/?size=48")) == 48
    assert cards(logged_in_client.get("/")) == 48  # remembered
    second = logged_in_client.get("/?page=2")
    assert cards(second) == 2
    bad = logged_in_client.get("/?size=1000")
    assert bad.status_code == 400 and "Select a valid choice" in bad.content.decode()
    assert cards(logged_in_client.get("/")) == 48


def test_a_card_shows_confidence_source_and_review_and_one_alt_text_control(logged_in_client, user):
    image = make_image(user, "dog.jpg")
    caption = finish_with_caption(image, "A dog on a beach.")
    Caption.objects.filter(pk=caption.pk).update(needs_review=True, confidence=0.31, checks=[
        {"rule": "starts-with-image-of", "severity": "warning", "message": "Starts with “image of”.", "link": "#"}])
    page = logged_in_client.get("/").content.decode()
    card = re.search(r'<li class="image-card.*?</li>', page, re.S).group(0)
    assert "confidence 0.31" in card and "Model" in card and "needs review" in card
    assert "1 warning: Starts with “image of”." in card
    assert card.count('name="text"') == 1  # the one way to change the alt text: edit in place
    assert "rating" not in card.lower() and "Better caption" not in card
    detail = logged_in_client.get(reverse("captions:image_detail", args=[image.public_id])).content.decode()
    assert "Save rating" in detail  # the rating lives on the image page (and in the review queue)


def test_matched_words_are_marked(logged_in_client, user):
    finish_with_caption(make_image(user, "beach-day.jpg"), "A dog on a <b>beach</b>.")
    page = logged_in_client.get("/?q=bea").content.decode()
    assert "A dog on a &lt;b&gt;<mark>beach</mark>&lt;/b&gt;." in page
    assert "<mark>beach</mark>-day.jpg" in page
    assert "<mark>" not in logged_in_client.get("/").content.decode()


def test_the_image_page_walks_the_list_it_came_from(logged_in_client, user, settings):
    names = [f"dog-{i:02}.jpg" for i in range(30)]
    images = {name: make_image(user, name) for name in names}
    make_image(user, "cat.jpg")
    gallery = logged_in_client.get("/?q=dog&sort=name").content.decode()
    link = re.search(r'<a href="(/images/[^"]+\?q=dog&amp;sort=name)">', gallery).group(1).replace("&amp;", "&")
    assert link.startswith(f"/images/{images['dog-00.jpg'].public_id}/")

    def walk(name):
        page = logged_in_client.get(f"/images/{images[name].public_id}/?q=dog&sort=name").content.decode()
        found = lambda key: (m.group(1).replace("&amp;", "&") if (m := re.search(rf'id="walk-{key}"[^>]*', page) and  # noqa: E731
                             re.search(rf'href="([^"]+)"[^>]*id="walk-{key}"', page)) else None)
        return page, found("prev"), found("next"), found("back")

    page, prev, nxt, back = walk("dog-00.jpg")
    assert prev is None and nxt == f"/images/{images['dog-01.jpg'].public_id}/?q=dog&sort=name"
    assert "Image 1 of 30" in page and back == f"/?q=dog&sort=name#image-{images['dog-00.jpg'].public_id}"
    page, prev, nxt, back = walk("dog-25.jpg")  # on the second page of 24
    assert prev.startswith(f"/images/{images['dog-24.jpg'].public_id}/")
    assert nxt.startswith(f"/images/{images['dog-26.jpg'].public_id}/")
    assert back == f"/?q=dog&sort=name&page=2#image-{images['dog-25.jpg'].public_id}"
    assert 'data-walk-key="j"' in page and "<kbd>j</kbd>" in page
    page, prev, nxt, back = walk("dog-29.jpg")
    assert nxt is None and "Image 30 of 30" in page

    # Opened without a list (a bookmark): the whole gallery, newest first; a bad search is no 500.
    plain = logged_in_client.get(f"/images/{images['dog-00.jpg'].public_id}/")
    assert plain.status_code == 200 and "Image 31 of 31" in plain.content.decode()  # the oldest
    odd = logged_in_client.get(f"/images/{images['dog-00.jpg'].public_id}/?sort=random&size=7")
    assert odd.status_code == 200 and 'id="walk-back"' in odd.content.decode()


def test_the_progress_line_counts_captioned_and_failed_apart(logged_in_client, user):
    from captions.models import Image

    make_image(user, "waiting.jpg")  # the work under way counts from the oldest unfinished upload
    make_image(user, "failed.jpg", status=Image.Status.FAILED, error="broken")
    page = logged_in_client.get("/").content.decode()
    assert "1 of 2 finished: 0 captioned, 1 failed." in page and "done (" not in page


def test_your_uploads_after_a_one_image_web_upload_points_to_the_gallery(logged_in_client, user):
    from tests.images import image_bytes, upload

    assert "No uploads yet." in logged_in_client.get(reverse("captions:batches")).content.decode()
    logged_in_client.post(reverse("captions:upload"), {"images": [upload("one.jpg", image_bytes("JPEG"))]})
    page = logged_in_client.get(reverse("captions:batches")).content.decode()
    assert "No uploads yet" not in page and "Your 1 image uploaded from the gallery is in" in page


def test_the_admins_model_filter_names_its_empty_choice(client, make_user):
    admin_user = make_user("root@example.com", is_staff=True, is_superuser=True)
    finish_with_caption(make_image(admin_user, "a.jpg"), "A model's caption.")
    human = finish_with_caption(make_image(admin_user, "b.jpg"), "A person's caption.")
    Caption.objects.filter(pk=human.pk).update(model_id="", source=Caption.Source.HUMAN)
    client.force_login(admin_user)
    page = client.get("/admin/captions/caption/").content.decode()
    links = re.findall(r"<a href=\"\?model_id=[^\"]*\">([^<]*)</a>", page)
    assert links and all(text.strip() for text in links), links
    assert any(text.startswith("(none: human captions)") for text in links)
