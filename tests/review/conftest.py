import itertools

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from captions.models import Caption, Image
from captions.services.submission import image_submit
from mlcore.params import GenerationParams
from tests.images import image_bytes, upload

_colors = itertools.count(1)
QUEUE = reverse("feedback:queue")


def _distinct_jpeg() -> bytes:
    n = next(_colors)
    return image_bytes("JPEG", size=(48, 32), color=((n * 37) % 256, (n * 91) % 256, (n * 53) % 256))


def caption_image(image: Image, *, text: str, confidence: float | None, candidates=None, model_id="test/model-a", params=None) -> Caption:
    """Finish an image the way the worker does: a model caption that becomes the current one."""
    from django.conf import settings

    caption = Caption.objects.create(
        image=image,
        text=text,
        raw_text=text,
        confidence=confidence,
        candidates=candidates if candidates is not None else [{"text": text, "score": confidence or 0.0}],
        source=Caption.Source.MODEL,
        model_id=model_id,
        model_version="v1",
        params=params or GenerationParams().to_dict(),
        needs_review=confidence is None or confidence < settings.CAPTION_REVIEW_THRESHOLD,
    )
    Image.objects.filter(pk=image.pk).update(status=Image.Status.DONE, current_caption=caption, finished_at=timezone.now())
    return caption


@pytest.fixture
def captioned(db):
    """captioned(owner, text=..., confidence=...) -> the new model Caption of a new uploaded image."""

    def make(owner, *, text="a dog on the grass", confidence=0.2, data: bytes | None = None, **caption_args) -> Caption:
        image = image_submit(owner=owner, files=[upload("photo.jpg", data or _distinct_jpeg())]).accepted[0]
        return caption_image(image, text=text, confidence=confidence, **caption_args)

    return make


@pytest.fixture
def captioned_batch(db):
    def make(owner, confidences: list[float], **caption_args) -> list[Caption]:
        files = [upload(f"b{i}.jpg", _distinct_jpeg()) for i in range(len(confidences))]
        images = image_submit(owner=owner, files=files).accepted
        return [
            caption_image(image, text=f"batch caption {i}", confidence=c, **caption_args)
            for i, (image, c) in enumerate(zip(images, confidences, strict=True))
        ]

    return make


@pytest.fixture
def owner(make_user):
    return make_user("owner@example.com")


@pytest.fixture
def stranger(make_user):
    return make_user("stranger@example.com")


@pytest.fixture
def reviewer(make_user):
    user = make_user("reviewer@example.com")
    user.groups.add(Group.objects.get_or_create(name="reviewers")[0])
    return user


@pytest.fixture
def staff(make_user):
    return make_user("staff@example.com", is_staff=True,
                     perms=["feedback.review_all_images", "feedback.add_modelactivation"])


def client_for(client, user):
    client.force_login(user)
    return client


HTMX = {"HTTP_HX_REQUEST": "true"}


def current_item(response):
    return response.context["caption"]


def walk_queue(client, **filters) -> list[int]:
    """The caption ids of the queue in order, following Next like a reviewer pressing j."""
    seen, position = [], 0
    while True:
        response = client.get(QUEUE, {"position": position, **filters})
        assert response.status_code == 200
        caption = current_item(response)
        if caption is None or caption.pk in seen:
            return seen
        seen.append(caption.pk)
        position += 1
