"""The captioning worker: the database is the queue, leases recover crashes, captions are reused."""

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from django_q.tasks import async_task

import mlcore
from captions.caption_request import caption_request_check
from captions.models import Caption, Image
from captions.services.queue import image_retry, images_claim, images_requeue_stale
from captions.services.submission import image_submit
from captions.services.worker import images_caption
from tests.images import image_bytes, upload
from tests.processes import database_url_of_this_test

pytestmark = pytest.mark.django_db(transaction=True)

REPO_ROOT = Path(__file__).resolve().parents[2]


def submit(owner, *files, params=None):
    request = caption_request_check(params or {}, owner=owner, offered_model=False)
    return image_submit(owner=owner, files=list(files), request=request).accepted


def run_task_like_the_cluster(func: str = "captions.tasks.caption_pending"):
    """Run the task through django-q2's own worker code, in this process (sync mode)."""
    return async_task(func, sync=True)


@pytest.fixture
def caption_calls(monkeypatch, tiny_model):
    """Counts the real model's batched calls (and the images in each), without replacing it."""
    captioner = mlcore.load_captioner(tiny_model)
    calls: list[int] = []
    original = captioner.caption

    def counting(images, params):
        calls.append(len(images))
        return original(images, params)

    monkeypatch.setattr(captioner, "caption", counting)
    return calls


def test_queued_images_are_captioned_in_one_batched_call(user, caption_calls, tiny_model):
    images = submit(
        user,
        upload("red.jpg", image_bytes("JPEG", color=(250, 0, 0))),
        upload("green.png", image_bytes("PNG", color=(0, 250, 0))),
        upload("blue.webp", image_bytes("WEBP", color=(0, 0, 250))),
    )
    run_task_like_the_cluster()

    assert caption_calls == [3]
    for image in Image.objects.filter(pk__in=[i.pk for i in images]):
        assert image.status == Image.Status.DONE, image.error
        assert image.finished_at is not None
        caption = image.current_caption
        assert caption.source == Caption.Source.MODEL
        assert caption.model_id == mlcore.load_captioner(tiny_model).model_id
        assert caption.model_version
        assert 0.0 <= caption.confidence <= 1.0
        assert caption.inference_ms > 0
        assert caption.params["num_beams"] == 3  # the defaults are recorded with the caption
        assert caption.candidates and caption.candidates[0]["text"] is not None


def test_same_bytes_same_model_same_params_are_captioned_once(user, caption_calls):
    data = image_bytes("JPEG", color=(10, 200, 30))
    first = submit(user, upload("one.jpg", data))[0]
    run_task_like_the_cluster()
    assert caption_calls == [1]

    again, twin = submit(user, upload("again.jpg", data), upload("twin.jpg", data))
    other_params = submit(user, upload("beam1.jpg", data), params={"num_beams": 1})[0]
    run_task_like_the_cluster()

    original = Image.objects.get(pk=first.pk).current_caption
    for image in (again, twin):
        caption = Image.objects.get(pk=image.pk).current_caption
        assert caption.source == Caption.Source.CACHE
        assert caption.reused_from_id == original.pk
        assert caption.text == original.text
    # Only the new parameters needed the model.
    assert caption_calls == [1, 1]
    assert Image.objects.get(pk=other_params.pk).current_caption.source == Caption.Source.MODEL


def test_duplicates_inside_one_batch_are_computed_once(user, caption_calls):
    data = image_bytes("PNG", color=(1, 2, 250))
    submit(user, upload("a.png", data), upload("b.png", data), upload("c.jpg", image_bytes("JPEG")))
    run_task_like_the_cluster()
    assert caption_calls == [2]
    sources = sorted(Caption.objects.values_list("source", flat=True))
    assert sources == ["cache", "model", "model"]


def test_a_second_run_of_the_task_changes_nothing(user, caption_calls):
    submit(user, upload("a.jpg", image_bytes("JPEG")))
    run_task_like_the_cluster()
    run_task_like_the_cluster()
    assert caption_calls == [1]
    assert Caption.objects.count() == 1


def test_a_result_from_a_lost_lease_is_not_recorded(user, tiny_model):
    image = submit(user, upload("a.jpg", image_bytes("JPEG")))[0]
    stale_token, claimed = images_claim(worker_id="slow-worker", limit=8)
    assert [i.pk for i in claimed] == [image.pk]
    # The slow worker's lease ran out; the sweep gave the image to another worker which finished.
    Image.objects.filter(pk=image.pk).update(claim_expires_at=timezone.now() - timedelta(seconds=1))
    images_requeue_stale()
    run_task_like_the_cluster()
    assert Image.objects.get(pk=image.pk).status == Image.Status.DONE
    # Now the slow worker finishes too: its result must not become a second current caption.
    summary = images_caption(images=claimed, claim_token=stale_token)
    assert summary.captioned == 0
    assert Caption.objects.count() == 1


def test_model_that_cannot_load_fails_images_with_instructions(user, settings, tmp_path):
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{ this is not json")
    settings.CAPTION_MODEL = str(broken)
    image = submit(user, upload("a.jpg", image_bytes("JPEG")))[0]
    run_task_like_the_cluster()
    image.refresh_from_db()
    assert image.status == Image.Status.FAILED
    assert "CAPTION_MODEL" in image.error and "model_fetch" in image.error


def test_a_model_that_failed_to_load_is_retried_after_a_pause(user, settings, tmp_path, tiny_blip_dir):
    import shutil

    settings.CAPTION_MODEL_RETRY_SECONDS = 3600
    folder = tmp_path / "model-arriving-later"
    folder.mkdir()
    settings.CAPTION_MODEL = str(folder)
    first = submit(user, upload("a.jpg", image_bytes("JPEG")))[0]
    run_task_like_the_cluster()
    first.refresh_from_db()
    assert first.status == Image.Status.FAILED

    # The operator copies the model in; within the pause workers still fail fast with the reason...
    shutil.copytree(tiny_blip_dir, folder, dirs_exist_ok=True)
    second = submit(user, upload("b.png", image_bytes("PNG")))[0]
    run_task_like_the_cluster()
    second.refresh_from_db()
    assert second.status == Image.Status.FAILED and second.error == first.error

    # ...and once it is over they load the model and caption; a retry brings the failed one back.
    settings.CAPTION_MODEL_RETRY_SECONDS = 0
    image_retry(image=second)
    run_task_like_the_cluster()
    second.refresh_from_db()
    assert second.status == Image.Status.DONE, second.error


def test_unknown_hub_model_offline_fails_with_instructions(user, settings, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    mlcore.reload_config()  # mlcore reads its environment once
    settings.CAPTION_MODEL = "nobody/no-such-captioner"
    image = submit(user, upload("a.jpg", image_bytes("JPEG")))[0]
    run_task_like_the_cluster()
    image.refresh_from_db()
    assert image.status == Image.Status.FAILED
    assert "model_fetch" in image.error


def test_model_errors_are_retried_with_backoff_then_failed(user, settings, monkeypatch, tiny_model):
    settings.CAPTION_MAX_ATTEMPTS = 2
    settings.CAPTION_RETRY_DELAY_SECONDS = 60
    captioner = mlcore.load_captioner(tiny_model)

    def out_of_memory(images, params):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(captioner, "caption", out_of_memory)
    image = submit(user, upload("a.jpg", image_bytes("JPEG")))[0]

    run_task_like_the_cluster()
    image.refresh_from_db()
    assert image.status == Image.Status.QUEUED and image.attempts == 1
    assert "out of memory" in image.error
    assert image.available_at > timezone.now() + timedelta(seconds=30)  # backing off, not spinning

    Image.objects.filter(pk=image.pk).update(available_at=timezone.now())
    run_task_like_the_cluster()
    image.refresh_from_db()
    assert image.status == Image.Status.FAILED and image.attempts == 2
    assert "out of memory" in image.error and "2 attempts" in image.error

    # The user retries once the problem is fixed: a fresh attempt budget and a caption.
    monkeypatch.undo()
    settings.CAPTION_MODEL = tiny_model
    image_retry(image=image)
    run_task_like_the_cluster()
    image.refresh_from_db()
    assert image.status == Image.Status.DONE and image.attempts == 1


def test_missing_stored_file_fails_that_image_only(user, tiny_model):
    gone, kept = submit(user, upload("gone.jpg", image_bytes("JPEG", color=(9, 9, 9))), upload("kept.jpg", image_bytes("JPEG")))
    gone.file.storage.delete(gone.file.name)
    run_task_like_the_cluster()
    gone.refresh_from_db()
    kept.refresh_from_db()
    assert gone.status == Image.Status.FAILED and "could not be read" in gone.error
    assert kept.status == Image.Status.DONE


def test_claims_take_at_most_the_batch_size(user, settings, tiny_model):
    settings.CAPTION_BATCH_SIZE = 2
    submit(user, *[upload(f"{i}.png", image_bytes("PNG", color=(i, i, i))) for i in range(5)])
    _, claimed = images_claim(worker_id="w1", limit=settings.CAPTION_BATCH_SIZE)
    assert len(claimed) == 2
    _, other = images_claim(worker_id="w2", limit=settings.CAPTION_BATCH_SIZE)
    assert len(other) == 2 and not {i.pk for i in claimed} & {i.pk for i in other}
    for image in claimed:
        assert image.status == Image.Status.PROCESSING and image.claim_expires_at > timezone.now()
        assert image.attempts == 1


def test_sweep_fails_an_image_whose_workers_keep_dying(user, settings):
    settings.CAPTION_MAX_ATTEMPTS = 2
    image = submit(user, upload("a.jpg", image_bytes("JPEG")))[0]
    for expected in ("queued", "failed"):
        images_claim(worker_id="doomed", limit=1)
        Image.objects.filter(pk=image.pk).update(claim_expires_at=timezone.now() - timedelta(seconds=1))
        images_requeue_stale()
        image.refresh_from_db()
        assert image.status == expected
    assert "lease expired" in image.error


@pytest.mark.slow
def test_images_of_a_worker_killed_mid_batch_are_captioned_after_the_lease_expires(user, settings, tiny_model):
    images = submit(user, upload("a.jpg", image_bytes("JPEG")), upload("b.png", image_bytes("PNG")))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "captionsite.test_settings",
        "DATABASE_URL": database_url_of_this_test(),
        "MEDIA_ROOT": settings.MEDIA_ROOT,
        "CAPTION_LEASE_SECONDS": "2",
    }
    # A worker process that claims the images and dies at once (SIGKILL: no cleanup runs).
    crash = subprocess.run(
        [sys.executable, "-c", CLAIM_THEN_DIE],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert crash.returncode == -9, crash.stderr
    assert set(Image.objects.values_list("status", flat=True)) == {Image.Status.PROCESSING}

    run_task_like_the_cluster()  # the lease still holds: nothing to take
    assert set(Image.objects.values_list("status", flat=True)) == {Image.Status.PROCESSING}

    time.sleep(2.2)
    run_task_like_the_cluster("captions.tasks.requeue_stale")
    run_task_like_the_cluster()
    for image in Image.objects.filter(pk__in=[i.pk for i in images]):
        assert image.status == Image.Status.DONE, image.error
        assert image.attempts == 2


CLAIM_THEN_DIE = """
import os, signal, django
django.setup()
from captions.services.queue import image_retry, images_claim, images_requeue_stale
from captions.services.submission import image_submit
from captions.services.worker import images_caption
token, claimed = images_claim(worker_id="doomed", limit=8)
assert len(claimed) == 2, claimed
os.kill(os.getpid(), signal.SIGKILL)
"""
