"""Batches: the uploads page with counts and progress, a batch's page with its
images and its alt-text export (CSV, JSON, HTML <img> list), GET /api/v1/batches/; and item 1:
the owner's saved correction is what every one of them shows."""

import csv
import io
import json

import pytest
import yaml
from django.urls import reverse
from django.utils import timezone

from captions.models import Caption, Image
from captions.services.submission import batch_submit
from tests.api.conftest import bearer
from tests.images import image_bytes, upload


def _batch(user, n=3, name="Holiday"):
    files = [upload(f"img-{i}.jpg", image_bytes("JPEG", size=(16, 12), color=(40 * i, 90, 30))) for i in range(n)]
    result = batch_submit(owner=user, files=files, name=name)
    return result.batch, result.accepted


def _caption(image, text, **extra):
    caption = Caption.objects.create(image=image, text=text, raw_text=text, confidence=0.9, model_id="tiny/blip", **extra)
    Image.objects.filter(pk=image.pk).update(status=Image.Status.DONE, current_caption=caption, finished_at=timezone.now())
    return caption


@pytest.mark.django_db
def test_the_uploads_page_lists_batches_with_counts_and_progress(logged_in_client, user):
    running, images = _batch(user, 3, "Running")
    _caption(images[0], "a boat")
    finished, done = _batch(user, 1, "Finished")
    _caption(done[0], "a kite")
    html = logged_in_client.get(reverse("captions:batches")).content.decode()
    assert "Running" in html and "Finished" in html
    assert "1 done" in html and "2 queued" in html
    assert html.count("<progress") == 1  # only the batch still running
    assert 'max="3" value="1"' in html and 'aria-label="Progress of Running"' in html
    assert reverse("captions:batch_detail", args=[running.pk]) in html


@pytest.mark.django_db
def test_the_batch_page_counts_read_as_english(logged_in_client, user):
    batch, images = _batch(user, 3)
    _caption(images[0], "a boat", needs_review=True)
    page = logged_in_client.get(reverse("captions:batch_detail", args=[batch.pk])).content.decode()
    assert "1 needs review" in page and "1 need review" not in page
    _caption(images[1], "a kite", needs_review=True)
    page = logged_in_client.get(reverse("captions:batch_detail", args=[batch.pk])).content.decode()
    assert "2 need review" in page


@pytest.mark.django_db
def test_a_batch_page_and_its_export_in_three_formats(logged_in_client, user):
    batch, images = _batch(user, 2)
    _caption(images[0], 'a "fast" <car> & =1+1')
    page = logged_in_client.get(reverse("captions:batch_detail", args=[batch.pk])).content.decode()
    assert "img-0.jpg" in page and "img-1.jpg" in page and "?format=html" in page
    url = reverse("captions:batch_export", args=[batch.pk])
    rows = list(csv.DictReader(io.StringIO(logged_in_client.get(url).content.decode())))
    assert rows[0]["caption"] == 'a "fast" <car> & =1+1'
    assert [r["filename"] for r in rows] == ["img-0.jpg", "img-1.jpg"]
    data = json.loads(logged_in_client.get(url, {"format": "json"}).content)
    assert data[0]["caption"] == 'a "fast" <car> & =1+1' and data[1]["caption"] == ""
    html = logged_in_client.get(url, {"format": "html"}).content.decode().splitlines()
    assert html[0] == '<img src="img-0.jpg" alt="a &quot;fast&quot; &lt;car&gt; &amp; =1+1">'
    assert logged_in_client.get(url, {"format": "pdf"}).status_code == 400
    api = logged_in_client.get(reverse("api:batch-export", args=[batch.pk]), {"format": "html"},
                               HTTP_AUTHORIZATION=bearer(user))
    assert api.status_code == 200 and api.content.decode().splitlines() == html


@pytest.mark.django_db
def test_another_users_batch_is_a_404(client, make_user, user):
    batch, _ = _batch(user)
    client.force_login(make_user("eve@example.com"))
    assert client.get(reverse("captions:batch_detail", args=[batch.pk])).status_code == 404
    assert client.get(reverse("captions:batch_export", args=[batch.pk])).status_code == 404
    assert client.get(reverse("captions:batches")).content.decode().count("Holiday") == 0


@pytest.mark.django_db
def test_the_batches_api_lists_them_paginated(client, user, make_user):
    first, images = _batch(user, 3, "First")
    _caption(images[0], "a bird", needs_review=True)
    second, _ = _batch(user, 1, "Second")
    _batch(make_user("eve@example.com"), 1, "Not mine")
    response = client.get(reverse("api:batches"), {"page_size": 1}, HTTP_AUTHORIZATION=bearer(user))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2 and body["next"] and body["results"][0]["name"] == "Second"
    everything = client.get(reverse("api:batches"), HTTP_AUTHORIZATION=bearer(user)).json()["results"]
    first_row = everything[1]
    assert first_row["counts"] == {"queued": 2, "processing": 0, "done": 1, "failed": 0}
    assert first_row["total"] == 3 and first_row["finished"] is False and first_row["needs_review"] == 1
    assert first_row["export_url"].endswith(f"/api/v1/batches/{first.pk}/export?format=csv")
    for bad in ({"page_size": "0"}, {"page": "x"}, {"colour": "red"}):
        bad_response = client.get(reverse("api:batches"), bad, HTTP_AUTHORIZATION=bearer(user))
        assert bad_response.status_code == 400 and bad_response.json()["detail"]
    assert client.get(reverse("api:batches")).status_code == 401


@pytest.mark.django_db
def test_the_schema_documents_the_batch_list(client):
    schema = yaml.safe_load(client.get(reverse("api:schema")).content)
    operation = schema["paths"]["/api/v1/batches/"]["get"]
    assert operation["operationId"] == "batches_list"
    assert {"page", "page_size"} <= {p["name"] for p in operation["parameters"]}


@pytest.mark.django_db
def test_a_saved_better_caption_is_the_alt_text_everywhere(logged_in_client, user):
    """Item 1: the owner's correction on the detail page (rating widget) is the caption shown, the
    Copy-alt-text text, the newest history row, the batch export and the API's caption; the
    model's caption stays in the history and the feedback is kept."""
    from feedback.models import Feedback

    batch, images = _batch(user, 1)
    image = images[0]
    model_caption = _caption(image, "a dog")
    response = logged_in_client.post(
        reverse("feedback:feedback", args=[model_caption.pk]),
        {"rating": "2", "corrected_caption": "a brown puppy on a red rug",
         "next": reverse("captions:image_detail", args=[image.public_id])},
    )
    assert response.status_code == 302
    image.refresh_from_db()
    assert image.current_caption.text == "a brown puppy on a red rug" and image.current_caption.source == "human"
    detail = logged_in_client.get(reverse("captions:image_detail", args=[image.public_id]))
    html = detail.content.decode()
    assert '<blockquote class="caption-large" id="alt-text">a brown puppy on a red rug</blockquote>' in html
    assert [c.text for c in detail.context["history"]] == ["a brown puppy on a red rug", "a dog"]
    export = json.loads(logged_in_client.get(reverse("captions:batch_export", args=[batch.pk]), {"format": "json"}).content)
    assert export[0]["caption"] == "a brown puppy on a red rug"
    api = logged_in_client.get(reverse("api:image-detail", args=[image.public_id]), HTTP_AUTHORIZATION=bearer(user)).json()
    assert api["caption"]["text"] == "a brown puppy on a red rug"
    assert Feedback.objects.get().corrected_caption == "a brown puppy on a red rug"


@pytest.mark.django_db
def test_an_old_batch_can_be_searched_by_its_link(logged_in_client, user):
    """The gallery's upload menu lists the newest 200 batches; a link to an older one still works."""
    from captions.models import Batch

    old, images = _batch(user, 1, "Old one")
    _caption(images[0], "an old boat")
    Batch.objects.bulk_create([Batch(owner=user, name=f"New {i}") for i in range(200)])
    menu = logged_in_client.get(reverse("captions:gallery")).context["search_form"].fields["batch"].choices
    assert str(old.pk) not in [value for value, _ in menu]
    response = logged_in_client.get(reverse("captions:gallery"), {"batch": old.pk})
    assert response.status_code == 200
    assert [i.original_filename for i in response.context["page"].object_list] == ["img-0.jpg"]
    assert logged_in_client.get(reverse("captions:gallery"), {"batch": "99999999"}).status_code == 400
