"""Re-captioning and model activation through the real worker code and the tiny model."""

import pytest
from django.urls import reverse
from django_q.tasks import async_task

from captions.models import Caption, Image
from captions.selectors import captioning_defaults
from captions.services.submission import image_submit
from feedback.models import ModelActivation, ReviewAction, TrainingRun
from tests.images import image_bytes, upload
from tests.review.conftest import HTMX, client_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def run_worker():
    return async_task("captions.tasks.caption_pending", sync=True)


def test_rejected_caption_is_replaced_by_the_workers_new_one(client, owner, tiny_model, settings):
    settings.CAPTION_REVIEW_THRESHOLD = 1.01  # every caption of the tiny model needs review
    image = image_submit(owner=owner, files=[upload("a.jpg", image_bytes("JPEG"))]).accepted[0]
    run_worker()
    first = Image.objects.get(pk=image.pk).current_caption
    assert first.needs_review and first.params["num_beams"] == 3

    client_for(client, owner)
    form = {"model_spec": tiny_model, "num_beams": 4, "max_length": 20, "num_alternatives": 2, "decision": "reject"}
    assert client.post(reverse("feedback:recaption", args=[first.pk]), form, **HTMX).status_code == 200
    run_worker()

    image.refresh_from_db()
    second = image.current_caption
    assert image.status == "done" and second.pk != first.pk
    assert (second.source, second.params["num_beams"], second.params["max_length"]) == ("model", 4, 20)
    assert second.model_id == first.model_id
    assert list(image.captions.order_by("id")) == [first, second]  # the rejected one stays in the history
    assert ReviewAction.objects.get().caption == first
    # The new caption is unsure too, so it is back in the queue; the rejected one is not.
    page = client.get(reverse("feedback:queue"))
    assert page.context["caption"] == second and page.context["remaining"] == 1


def test_workers_caption_with_the_activated_model_from_their_next_batch(client, owner, staff, tiny_model, tmp_path):
    from benchmarks.testing import build_tiny_blip

    finetuned = str(build_tiny_blip(tmp_path / "finetuned"))
    run = TrainingRun.objects.create(
        base_model=tiny_model, output_dir=finetuned, status=TrainingRun.Status.SUCCEEDED, model_id=finetuned
    )
    before = image_submit(owner=owner, files=[upload("a.jpg", image_bytes("JPEG", color=(1, 2, 3)))]).accepted[0]
    run_worker()
    assert Image.objects.get(pk=before.pk).current_caption.model_id.endswith(tiny_model.rstrip("/").split("/")[-1])

    client_for(client, owner)
    assert client.post(reverse("feedback:model_activate"), {"run": run.pk}).status_code == 403
    client_for(client, staff)
    assert client.post(reverse("feedback:model_activate"), {"run": run.pk}).status_code == 302
    assert captioning_defaults().model_spec == finetuned
    assert finetuned.encode() in client.get(reverse("feedback:models")).content

    after = image_submit(owner=owner, files=[upload("b.jpg", image_bytes("JPEG", color=(9, 8, 7)))]).accepted[0]
    run_worker()
    caption = Image.objects.get(pk=after.pk).current_caption
    assert caption.model_id == finetuned

    # Rollback: back to the configured model; the run stays listed and can be activated again.
    client.post(reverse("feedback:model_activate"), {})
    assert captioning_defaults().model_spec == tiny_model
    assert ModelActivation.objects.count() == 2
    again = image_submit(owner=owner, files=[upload("c.jpg", image_bytes("JPEG", color=(90, 80, 70)))]).accepted[0]
    run_worker()
    assert Image.objects.get(pk=again.pk).current_caption.model_id != finetuned
    assert Caption.objects.filter(model_id=finetuned).count() == 1
