"""POST /api/v1/captions/{id}/feedback/ and GET /api/v1/feedback/."""

import pytest
from rest_framework.test import APIClient

from accounts.keys import SCHEME
from accounts.services import api_key_create
from feedback.models import Feedback

pytestmark = pytest.mark.django_db


def api_for(user) -> APIClient:
    _, raw_key = api_key_create(owner=user, name="tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{SCHEME} {raw_key}")
    return client


def feedback_url(caption) -> str:
    return f"/api/v1/captions/{caption.pk}/feedback/"


def test_post_creates_then_replaces_the_one_feedback(owner, captioned):
    caption = captioned(owner, text="a cat", confidence=0.3)
    api = api_for(owner)

    created = api.post(feedback_url(caption), {"rating": 2, "corrected_caption": " a black  cat "}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["caption"], body["caption_text"], body["image"], body["rating"], body["corrected_caption"]) == (
        caption.pk, "a cat", str(caption.image.public_id), 2, "a black cat"
    )

    # As on the website, the owner's correction of the current caption becomes the alt text.
    image = caption.image
    image.refresh_from_db()
    assert (image.current_caption.text, image.current_caption.source) == ("a black cat", "human")

    updated = api.post(feedback_url(caption), {"rating": 4}, format="json")
    assert updated.status_code == 200
    assert updated.json()["id"] == body["id"]
    # A later post with only a rating keeps the correction (and the alt text).
    assert (updated.json()["rating"], updated.json()["corrected_caption"]) == (4, "a black cat")
    image.refresh_from_db()
    assert image.current_caption.text == "a black cat"
    assert Feedback.objects.count() == 1

    removed = api.post(feedback_url(caption), {"rating": 4, "corrected_caption": ""}, format="json")
    assert (removed.status_code, removed.json()["corrected_caption"]) == (200, "")


def test_another_reviewers_correction_stays_feedback(owner, reviewer, captioned):
    caption = captioned(owner, text="a cat", confidence=0.3)
    assert api_for(reviewer).post(feedback_url(caption), {"rating": 2, "corrected_caption": "a dog"}, format="json").status_code == 201
    caption.image.refresh_from_db()
    assert caption.image.current_caption_id == caption.pk


@pytest.mark.parametrize(
    "data, field",
    [
        ({"rating": 0}, "rating"),
        ({"rating": 6}, "rating"),
        ({"rating": "five"}, "rating"),
        ({}, "rating"),
        ({"rating": 3, "corrected_caption": "   "}, "corrected_caption"),
        ({"rating": 3, "corrected_caption": "z" * 301}, "corrected_caption"),
        ({"rating": 3, "comment": "typo'd field"}, "comment"),
    ],
)
def test_bad_feedback_is_a_400_naming_the_field(owner, captioned, data, field):
    caption = captioned(owner, confidence=0.3)
    response = api_for(owner).post(feedback_url(caption), data, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] and body["detail"]
    assert field in body["errors"], body
    assert not Feedback.objects.exists()


def test_someone_elses_caption_is_a_404_and_anonymous_a_401(owner, stranger, reviewer, captioned):
    caption = captioned(owner, confidence=0.3)
    assert api_for(stranger).post(feedback_url(caption), {"rating": 5}, format="json").status_code == 404
    assert APIClient().post(feedback_url(caption), {"rating": 5}, format="json").status_code == 401
    assert api_for(reviewer).post(feedback_url(caption), {"rating": 5}, format="json").status_code == 201
    assert api_for(owner).post("/api/v1/captions/999999/feedback/", {"rating": 5}, format="json").status_code == 404


def test_list_shows_only_own_feedback_paginated(owner, stranger, captioned):
    mine = [captioned(owner, text=f"mine {n}", confidence=0.3) for n in range(3)]
    theirs = captioned(stranger, confidence=0.3)
    for n, caption in enumerate(mine):
        Feedback.objects.create(user=owner, caption=caption, rating=n + 1)
    Feedback.objects.create(user=stranger, caption=theirs, rating=5)

    api = api_for(owner)
    page = api.get("/api/v1/feedback/", {"page_size": 2})
    assert page.status_code == 200
    body = page.json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    rest = api.get(body["next"]).json()
    assert sorted(r["caption_text"] for r in body["results"] + rest["results"]) == ["mine 0", "mine 1", "mine 2"]
    assert APIClient().get("/api/v1/feedback/").status_code == 401
