"""A failed image's owner is told the real reason, classified when the worker records the failure
(Image.error_kind), never guessed from the words; a missing model is logged once per load attempt."""

import logging

import pytest
from django.urls import reverse

import mlcore
from accounts.models import User
from captions.models import Caption, Image
from tests.images import image_bytes, upload
from tests.worker.worker_helpers import CULPRIT, is_culprit, run_task, submit

pytestmark = pytest.mark.django_db(transaction=True)






@pytest.fixture
def blanking_captioner(monkeypatch, tiny_model):
    """The real tiny BLIP, whose decoding leaves no words for a magenta image: ``ok`` False."""
    captioner = mlcore.load_captioner(tiny_model)
    base = type(captioner)
    calls: list[int] = []

    class Blank(base):
        def caption(self, images, params=None):
            calls.append(len(images))
            results = super().caption(images, params)
            for image, result in zip(images, results, strict=True):
                if is_culprit(image):
                    result.text = ""
            return results

    monkeypatch.setattr(captioner, "__class__", Blank)
    return calls


@pytest.fixture
def raising_captioner(monkeypatch, tiny_model):
    captioner = mlcore.load_captioner(tiny_model)
    base = type(captioner)

    class Raising(base):
        def generate_raw(self, images, params):
            raise RuntimeError("the model ran out of patience")

    monkeypatch.setattr(captioner, "__class__", Raising)


def detail_of(client, image) -> str:
    return client.get(reverse("captions:image_detail", args=[image.public_id])).content.decode()


def test_no_words_is_not_called_a_missing_model_and_fails_at_once(logged_in_client, user, settings, blanking_captioner):
    settings.CAPTION_MAX_ATTEMPTS = 3
    empty, fine = submit(user, upload("empty.png", image_bytes("PNG", color=CULPRIT)), upload("fine.png", image_bytes("PNG")))
    run_task()
    empty.refresh_from_db()
    fine.refresh_from_db()
    assert fine.status == Image.Status.DONE
    # A model that does not sample gives no words again: failed at once, not retried 3 times.
    assert empty.status == Image.Status.FAILED and empty.attempts == 1
    assert empty.error_kind == Image.FailureKind.NO_WORDS
    assert "the model produced no words" in empty.error
    assert blanking_captioner == [2]

    page = detail_of(logged_in_client, empty)
    assert "produced no words for it" in page
    assert "could not be loaded" not in page and "was not available" not in page
    assert "the model produced no words for this image" in page  # the real reason, for the owner too
    assert "write the caption yourself" in page  # what to do
    api = logged_in_client.get(reverse("api:image-detail", args=[empty.public_id])).json()
    assert api["error_kind"] == "no_words"


def test_no_words_while_sampling_is_retried(user, settings, blanking_captioner):
    settings.CAPTION_MAX_ATTEMPTS = 3
    (empty,) = submit(user, upload("empty.png", image_bytes("PNG", color=CULPRIT)), params={"do_sample": True})
    run_task()
    empty.refresh_from_db()
    assert empty.status == Image.Status.QUEUED and empty.attempts == 1
    assert empty.error_kind == Image.FailureKind.NO_WORDS


def test_a_model_error_is_told_as_such_with_its_reason(logged_in_client, user, settings, raising_captioner):
    settings.CAPTION_MAX_ATTEMPTS = 1
    (image,) = submit(user, upload("a.png", image_bytes("PNG")))
    run_task()
    image.refresh_from_db()
    assert image.status == Image.Status.FAILED and image.error_kind == Image.FailureKind.MODEL_ERROR
    page = detail_of(logged_in_client, image)
    assert "ran into an error" in page and "ran out of patience" in page
    assert "could not be loaded" not in page


def test_a_missing_model_is_told_plainly_and_logged_once(logged_in_client, user, settings, tmp_path, caplog):
    settings.CAPTION_MODEL = str(tmp_path / "no-such-model")
    images = submit(user, *(upload(f"{i}.png", image_bytes("PNG", color=(i * 50, 9, 9))) for i in range(3)))
    with caplog.at_level(logging.INFO):
        run_task()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and "no-such-model" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]  # once per load attempt, not per image
    assert "model_fetch" in warnings[0].getMessage() and "CAPTION_MODEL" in warnings[0].getMessage()

    for image in Image.objects.filter(pk__in=[i.pk for i in images]):
        assert image.status == Image.Status.FAILED
        assert image.error_kind == Image.FailureKind.MODEL_UNAVAILABLE
    page = detail_of(logged_in_client, images[0])
    assert "the captioning model could not be loaded" in page and "retry this image" in page
    assert "no-such-model" not in page  # operator words are for staff
    User.objects.filter(pk=user.pk).update(is_staff=True)
    assert "no-such-model" in detail_of(logged_in_client, images[0])

    # the next batch, inside CAPTION_MODEL_RETRY_SECONDS, does not log again
    caplog.clear()
    submit(user, upload("later.png", image_bytes("PNG")))
    run_task()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "no-such-model" in r.getMessage()]
    assert not Caption.objects.exists()


def test_a_reason_recorded_without_a_kind_is_shown_as_it_is(logged_in_client, user):
    (image,) = submit(user, upload("a.png", image_bytes("PNG")))
    reason = "The model could not caption this image: the model produced no words for this image"
    Image.objects.filter(pk=image.pk).update(status=Image.Status.FAILED, error=reason)
    page = detail_of(logged_in_client, image)
    assert reason in page and "was not available" not in page and "could not be loaded" not in page


def test_server_path_disclosure_a_missing_stored_file_names_no_path(logged_in_client, user, settings, tiny_model):
    """The class: a reason shown to the owner never carries a server path or internal detail."""
    from django.core.files.storage import default_storage

    settings.CAPTION_MAX_ATTEMPTS = 1
    (image,) = submit(user, upload("a.png", image_bytes("PNG")))
    default_storage.delete(image.file.name)
    run_task()
    image.refresh_from_db()
    assert image.status == Image.Status.FAILED and image.error_kind == Image.FailureKind.IMAGE_UNREADABLE
    assert "missing from storage" in image.error
    page = detail_of(logged_in_client, image)
    for secret in (str(settings.MEDIA_ROOT), image.file.name, "Errno"):
        assert secret not in image.error and secret not in page
    api = logged_in_client.get(f"/api/v1/images/{image.public_id}/")
    assert str(settings.MEDIA_ROOT) not in api.content.decode()
