"""manage.py finetune end to end on the tiny BLIP: corrected captions in, a model out whose id new
captions record."""

import io

import pytest
from django.core.management import CommandError, call_command
from django_q.tasks import async_task

from captions.caption_request import caption_request_check
from captions.models import Image
from captions.services.submission import image_submit
from feedback import services
from feedback.models import TrainingRun
from tests.images import image_bytes, upload

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

COLOURS = {"red": (220, 20, 20), "green": (20, 200, 40), "blue": (30, 40, 220), "yellow": (230, 220, 30),
           "black": (5, 5, 5), "white": (250, 250, 250)}


def run_worker():
    async_task("captions.tasks.caption_pending", sync=True)


@pytest.fixture
def corrected_images(owner, tiny_model):
    """Six images captioned by the tiny model, each corrected by a person."""
    files = [upload(f"{name}.png", image_bytes("PNG", size=(64, 64), color=rgb)) for name, rgb in COLOURS.items()]
    images = image_submit(owner=owner, files=files).accepted
    run_worker()
    for name, image in zip(COLOURS, images, strict=True):
        model_caption = Image.objects.get(pk=image.pk).current_caption
        services.caption_edit(caption=model_caption, reviewer=owner, text=f"a {name} square")
    return images


def test_finetune_learns_from_corrections_and_new_captions_carry_the_new_model(owner, tiny_model, corrected_images, tmp_path):
    out = tmp_path / "finetuned"
    stdout = io.StringIO()
    call_command(
        "finetune", "--base", tiny_model, "--epochs", "6", "--out", str(out), "--val-fraction", "0.34",
        "--learning-rate", "5e-4", "--seed", "0", stdout=stdout,
    )
    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.train_size + run.val_size == len(COLOURS) and run.train_size and run.val_size
    train_losses = run.losses["train"]
    assert len(train_losses) == 6 and train_losses[-1] < train_losses[0]
    assert run.losses["val"][-1] < run.losses["val"][0]
    for metrics in (run.metrics_before, run.metrics_after):
        assert set(metrics) >= {"bleu4", "cider"}
    assert run.model_id and run.output_dir == str(out)
    assert "BLEU-4" in stdout.getvalue() and "CIDEr" in stdout.getvalue()

    fresh = image_submit(
        owner=owner, files=[upload("new.png", image_bytes("PNG", size=(64, 64), color=(100, 50, 150)))],
        request=caption_request_check({"model": run.output_dir}, offered_model=False),
    ).accepted[0]
    run_worker()
    caption = Image.objects.get(pk=fresh.pk).current_caption
    assert caption.model_id == run.model_id != Image.objects.get(pk=corrected_images[0].pk).captions.earliest("id").model_id
    assert caption.model_version


def test_finetune_without_examples_fails_with_the_reason(tiny_model, tmp_path):
    with pytest.raises(CommandError, match="nothing to learn from"):
        call_command("finetune", "--base", tiny_model, "--epochs", "1", "--out", str(tmp_path / "x"))
    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.FAILED and "nothing to learn from" in run.error


def test_a_queued_run_is_run_once_by_the_task(owner, tiny_model, corrected_images, tmp_path):
    run = services.training_run_create(base_model=tiny_model, output_dir=str(tmp_path / "m"), epochs=1, enqueue=False)
    async_task("feedback.tasks.finetune_run", run.pk, sync=True)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    # A re-delivered message finds the run finished and leaves it alone.
    async_task("feedback.tasks.finetune_run", run.pk, sync=True)
    assert TrainingRun.objects.get(pk=run.pk).finished_at == run.finished_at
