"""Finding images: full-text search over file names, captions and human
corrections, filters and orderings, through the gallery page and GET /api/v1/images/. The
same tests run on SQLite (FTS5) and PostgreSQL (tsvector + GIN): set DATABASE_URL for the latter."""

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from captions.models import Caption, Image
from captions.services.queue import image_delete
from captions.services.submission import image_submit
from tests.api.conftest import bearer
from tests.images import image_bytes, upload


def _caption(image, text, *, confidence=0.9, model_id="tiny/blip", needs_review=False, current=True):
    caption = Caption.objects.create(image=image, text=text, raw_text=text, confidence=confidence,
                                     model_id=model_id, needs_review=needs_review)
    if current:
        Image.objects.filter(pk=image.pk).update(status=Image.Status.DONE, current_caption=caption,
                                                 finished_at=timezone.now())
    return caption


@pytest.fixture
def library(user):
    """Four images of `user`: beach-day.jpg (a dog on a beach), Café-Paris.png (a red bus),
    notes_01.jpg (failed), zebra.jpg (a zebra, low confidence, needs review, other model)."""
    names = ["beach-day.jpg", "Café-Paris.png", "notes_01.jpg", "zebra.jpg"]
    files = [upload(n, image_bytes("JPEG", size=(32, 24), color=(30 * i, 90, 120))) for i, n in enumerate(names)]
    images = image_submit(owner=user, files=files).accepted
    by_name = {image.original_filename: image for image in images}
    _caption(by_name["beach-day.jpg"], "a brown dog running on a sandy beach")
    _caption(by_name["Café-Paris.png"], "a red double decker bus on a street", confidence=0.5)
    Image.objects.filter(pk=by_name["notes_01.jpg"].pk).update(status=Image.Status.FAILED, error="x")
    _caption(by_name["zebra.jpg"], "a zebra standing in tall grass", confidence=0.1, needs_review=True, model_id="other/git")
    return {name: Image.objects.get(pk=image.pk) for name, image in by_name.items()}


def _api_names(client, user, **params):
    response = client.get(reverse("api:images"), params, HTTP_AUTHORIZATION=bearer(user))
    assert response.status_code == 200, response.content
    return [row["filename"] for row in response.json()["results"]]


def _page_names(client, **params):
    response = client.get(reverse("captions:gallery"), params)
    assert response.status_code == 200, response.content[:500]
    return [image.original_filename for image in response.context["page"].object_list]


@pytest.mark.django_db
def test_the_engine_is_the_databases_own_full_text_search(library):
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT count(*) FROM captions_image_fts")
            assert cursor.fetchone()[0] == 4
        else:
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'captions_image_search_gin'")
            assert "gin" in cursor.fetchone()[0].lower()


@pytest.mark.django_db
def test_words_in_captions_and_file_names_are_found(client, user, library):
    client.force_login(user)
    assert _page_names(client, q="dog") == ["beach-day.jpg"]
    assert _page_names(client, q="BEACH") == ["beach-day.jpg"]          # caption and file name, any case
    assert _page_names(client, q="cafe") == ["Café-Paris.png"]          # accents ignored, file name
    assert _page_names(client, q="paris bus") == ["Café-Paris.png"]     # every word, from both
    assert _page_names(client, q="dog bus") == []                       # ... must match
    assert _page_names(client, q="zeb") == ["zebra.jpg"]                # a word prefix
    assert _page_names(client, q="notes") == ["notes_01.jpg"]           # "_" separates words
    assert sorted(_api_names(client, user, search="a")) == ["Café-Paris.png", "beach-day.jpg", "zebra.jpg"]


@pytest.mark.django_db
def test_a_correction_is_found_and_the_index_follows_every_change(client, user, library):
    from feedback import services as feedback_services

    client.force_login(user)
    zebra = library["zebra.jpg"]
    feedback_services.caption_feedback_submit(
        user=user, caption=zebra.current_caption, rating=2, corrected_caption="a striped horse grazing")
    assert _page_names(client, q="striped") == ["zebra.jpg"]
    assert _page_names(client, q="zebra grass") == ["zebra.jpg"]       # the model's caption stays in history
    Caption.objects.filter(image=library["beach-day.jpg"]).update(text="a cat asleep")
    assert _page_names(client, q="dog") == []
    assert _page_names(client, q="asleep") == ["beach-day.jpg"]
    Image.objects.filter(pk=library["notes_01.jpg"].pk).update(original_filename="receipt.jpg")
    assert _page_names(client, q="receipt") == ["receipt.jpg"]
    image_delete(image=library["Café-Paris.png"])
    assert _page_names(client, q="bus") == []


BAD_QUERIES = ['"', '""', "dog*", "NEAR(dog bus)", "dog OR", "AND", "-dog", "dog:*", "a & | ! b", "')--",
               "^dog", "{filename}:dog", "\\", "(((", "%", "_", "😀", "d" * 500, "x " * 300, "\u0000dog"]


@pytest.mark.django_db
@pytest.mark.parametrize("query", BAD_QUERIES)
def test_no_query_is_an_error(client, user, library, query):
    """Quotes, stars, operators and column filters are plain separators: never a 500."""
    client.force_login(user)
    page = client.get(reverse("captions:gallery"), {"q": query})
    assert page.status_code in (200, 400)
    api = client.get(reverse("api:images"), {"search": query}, HTTP_AUTHORIZATION=bearer(user))
    assert api.status_code in (200, 400)
    if len(query) <= 200 and "\u0000" not in query:
        assert page.status_code == 200 and api.status_code == 200


@pytest.mark.django_db
def test_filters_and_orderings(client, user, library, make_user):
    from feedback import services as feedback_services

    client.force_login(user)
    assert _api_names(client, user, status="failed") == ["notes_01.jpg"]
    assert _api_names(client, user, needs_review="true") == ["zebra.jpg"]
    assert _api_names(client, user, model="other/git") == ["zebra.jpg"]
    assert _api_names(client, user, ordering="name") == ["Café-Paris.png", "beach-day.jpg", "notes_01.jpg", "zebra.jpg"]
    assert _api_names(client, user, ordering="confidence")[:3] == ["zebra.jpg", "Café-Paris.png", "beach-day.jpg"]
    newest = _api_names(client, user, ordering="newest")
    assert _api_names(client, user, ordering="oldest") == list(reversed(newest))
    feedback_services.feedback_save(user=user, caption=library["beach-day.jpg"].current_caption, rating=4)
    assert _api_names(client, user, rating=4) == ["beach-day.jpg"]
    assert _page_names(client, rating=4) == ["beach-day.jpg"]
    assert _page_names(client, status="done", sort="name") == ["Café-Paris.png", "beach-day.jpg", "zebra.jpg"]
    assert _page_names(client, review="yes") == ["zebra.jpg"]
    today = timezone.localdate().isoformat()
    assert len(_page_names(client, start=today, end=today)) == 4
    assert _page_names(client, end="2000-01-01") == []
    batch = library["zebra.jpg"].batch_id
    if batch:
        assert len(_api_names(client, user, batch=batch)) == 4
    # Another user's images are never found.
    other = make_user("eve@example.com")
    client.force_login(other)
    assert _page_names(client, q="dog") == []
    assert _api_names(client, other, search="dog") == []


@pytest.mark.django_db
@pytest.mark.parametrize("params", [
    {"ordering": "random"}, {"rating": "6"}, {"rating": "x"}, {"status": "lost"}, {"search": "x" * 201},
    {"created_after": "2026-01-02T00:00:00Z", "created_before": "2026-01-01T00:00:00Z"}, {"batch": "0"},
    {"sort_by": "name"},
])
def test_bad_api_parameters_are_400(client, user, library, params):
    response = client.get(reverse("api:images"), params, HTTP_AUTHORIZATION=bearer(user))
    assert response.status_code == 400
    assert response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("params", [{"sort": "random"}, {"rating": "9"}, {"start": "yesterday"},
                                    {"start": "2026-02-02", "end": "2026-02-01"}, {"batch": "abc"}])
def test_bad_search_form_values_are_shown_not_500(client, user, library, params):
    client.force_login(user)
    response = client.get(reverse("captions:gallery"), params)
    assert response.status_code == 400
    assert response.context["search_form"].errors


@pytest.mark.django_db
def test_the_search_lives_in_the_url(client, user, library):
    """A GET form: the pager and the bulk form keep the search, so it can be bookmarked."""
    client.force_login(user)
    for i in range(30):
        img = image_submit(owner=user, files=[upload(f"dog-{i}.jpg", image_bytes("JPEG", size=(8, 8)))]).accepted[0]
        _caption(img, f"a dog number {i}")
    response = client.get(reverse("captions:gallery"), {"q": "dog", "sort": "name"})
    html = response.content.decode()
    assert 'method="get"' in html and 'name="q"' in html and 'value="dog"' in html
    assert "?q=dog&amp;sort=name&amp;page=2" in html
    assert response.context["page"].paginator.count == 31
    second = client.get(reverse("captions:gallery"), {"q": "dog", "sort": "name", "page": 2})
    assert second.context["page"].paginator.count == 31


@pytest.mark.django_db
def test_the_schema_documents_search_and_filters(client):
    import yaml

    schema = yaml.safe_load(client.get(reverse("api:schema")).content)
    names = {p["name"] for p in schema["paths"]["/api/v1/images/"]["get"]["parameters"]}
    assert {"search", "ordering", "status", "needs_review", "batch", "model", "rating",
            "created_after", "created_before"} <= names


@pytest.mark.django_db
def test_a_wrong_filter_is_tied_to_its_message(client, user):
    client.force_login(user)
    html = client.get(reverse("captions:gallery"), {"start": "2026-02-02", "end": "2026-02-01"}).content.decode()
    assert 'aria-invalid="true"' in html and 'aria-describedby="id_end-error"' in html
    assert 'id="id_end-error">The end date is before the start date.' in html


def test_the_gallery_has_no_duplicate_ids(client, user):
    """The upload form and the search form both have a `model` field: their controls (and the
    labels pointing at them) must not share an id (new-user trial: the filter's label pointed at
    the upload field)."""
    import re
    from collections import Counter

    client.force_login(user)
    html = client.get(reverse("captions:gallery")).content.decode()
    ids = Counter(re.findall(r'\sid="([^"]+)"', html))
    assert [i for i, n in ids.items() if n > 1] == []
    assert 'for="upload-model"' in html and 'id="upload-model"' in html
