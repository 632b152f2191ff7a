"""The worker's reliability: one image never fails its neighbours, an empty caption is never done,
leases are short and renewed, dead local workers' claims are released, runs keep a time budget,
stale images can be retried and are reported."""

import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

import mlcore
from captions.models import Caption, Image
from captions.services.queue import (
    claim_owner,
    images_claim,
    images_release_dead_local_claims,
    images_requeue_stale,
    worker_identity,
)
from captions.services.worker import caption_pending_run, caption_record
from mlcore.engines import EngineUnavailable
from tests.images import image_bytes, upload
from tests.processes import database_url_of_this_test
from tests.worker.worker_helpers import CULPRIT, is_culprit, run_task, submit

pytestmark = pytest.mark.django_db(transaction=True)

REPO_ROOT = Path(__file__).resolve().parents[2]





@pytest.fixture
def picky_captioner(monkeypatch, tiny_model):
    """The real tiny BLIP, as a subclass whose batched model call raises whenever the batch holds
    one magenta image (as GIT's processor raised MemoryError on a 100000x1 image): mlcore's real
    batching and bisection run. Counts the batched calls."""
    captioner = mlcore.load_captioner(tiny_model)
    base = type(captioner)
    calls: list[int] = []

    class Picky(base):
        def generate_raw(self, images, params):
            calls.append(len(images))
            if any(is_culprit(image) for image in images):
                raise MemoryError("cannot allocate 7.9 GiB for the resized image")
            return super().generate_raw(images, params)

    monkeypatch.setattr(captioner, "__class__", Picky)
    return calls


def test_a_failing_image_does_not_fail_its_neighbours(user, settings, picky_captioner):
    settings.CAPTION_MAX_ATTEMPTS = 1
    good = [upload(f"good{i}.png", image_bytes("PNG", color=(i * 40, 90, 20))) for i in range(3)]
    images = submit(user, good[0], upload("bad.png", image_bytes("PNG", color=CULPRIT)), *good[1:])
    run_task()

    by_name = {i.original_filename: i for i in Image.objects.filter(pk__in=[i.pk for i in images])}
    culprit = by_name.pop("bad.png")
    assert culprit.status == Image.Status.FAILED
    assert "MemoryError" in culprit.error and "7.9 GiB" in culprit.error
    assert culprit.current_caption is None
    for image in by_name.values():
        assert image.status == Image.Status.DONE, image.error
        assert image.current_caption.text.strip()
    assert picky_captioner[0] == 4 and len(picky_captioner) > 1  # one batched call, then bisection
    assert Caption.objects.count() == 3


def test_a_failing_image_is_retried_with_backoff_as_usual(user, settings, picky_captioner):
    settings.CAPTION_MAX_ATTEMPTS = 3
    settings.CAPTION_RETRY_DELAY_SECONDS = 60
    bad, ok = submit(user, upload("bad.png", image_bytes("PNG", color=CULPRIT)), upload("ok.png", image_bytes("PNG")))
    run_task()
    bad.refresh_from_db()
    ok.refresh_from_db()
    assert ok.status == Image.Status.DONE
    assert bad.status == Image.Status.QUEUED and bad.attempts == 1
    assert "MemoryError" in bad.error
    assert bad.available_at > timezone.now() + timedelta(seconds=30)


@pytest.fixture
def blanking_captioner(monkeypatch, tiny_model):
    """The real tiny BLIP, as a subclass whose decoding leaves no words for a magenta image (as
    '<unk>' dropped by decoding did): the result has ``ok`` False."""
    captioner = mlcore.load_captioner(tiny_model)
    base = type(captioner)

    class Blank(base):
        def caption(self, images, params=None):
            results = super().caption(images, params)
            for image, result in zip(images, results, strict=True):
                if is_culprit(image):
                    result.text = ""
                    result.details["error"] = "every token was banned"
            return results

    monkeypatch.setattr(captioner, "__class__", Blank)


def test_an_empty_caption_is_never_stored_as_done(user, settings, blanking_captioner):
    settings.CAPTION_MAX_ATTEMPTS = 1
    empty, fine = submit(user, upload("empty.png", image_bytes("PNG", color=CULPRIT)), upload("fine.png", image_bytes("PNG")))
    run_task()
    empty.refresh_from_db()
    fine.refresh_from_db()
    assert fine.status == Image.Status.DONE and fine.current_caption.text
    assert empty.status == Image.Status.FAILED and empty.current_caption is None
    assert "no words" in empty.error or "banned" in empty.error
    assert not Caption.objects.filter(text="").exists()


def test_caption_record_refuses_an_empty_result(user, tiny_model):
    image = submit(user, upload("a.png", image_bytes("PNG")))[0]
    token, _ = images_claim(worker_id="w", limit=1)
    result = mlcore.load_captioner(tiny_model).caption([mlcore.images.load_image(image_bytes("PNG"), max_pixels=10**6).image])[0]
    result.text = "  "
    with pytest.raises(ValueError):
        caption_record(image=image, claim_token=token, result=result, params=mlcore.GenerationParams(), cache_key="k")
    assert Image.objects.get(pk=image.pk).status == Image.Status.PROCESSING


@pytest.fixture
def partial_engine(monkeypatch, tiny_model):
    """The real tiny BLIP, as an engine that captions the good images and reports the magenta one
    failed (mlcore.engines.EngineUnavailable with partial results), as a remote engine does."""
    captioner = mlcore.load_captioner(tiny_model)
    base = type(captioner)

    class Partial(base):
        def caption_isolated(self, images, params=None):
            results = super().caption_isolated([i for i in images if not is_culprit(i)], params)
            partial, failures, it = [], {}, iter(results)
            for index, image in enumerate(images):
                if is_culprit(image):
                    partial.append(None)
                    failures[index] = "HTTP 503 from the engine after 3 tries"
                else:
                    partial.append(next(it))
            raise EngineUnavailable(self.model_id, failures, partial)

    monkeypatch.setattr(captioner, "__class__", Partial)


def test_engine_partial_results_are_saved_and_only_the_failed_image_retries(user, settings, partial_engine):
    settings.CAPTION_RETRY_DELAY_SECONDS = 30
    a, bad, b = submit(
        user,
        upload("a.png", image_bytes("PNG", color=(1, 2, 3))),
        upload("bad.png", image_bytes("PNG", color=CULPRIT)),
        upload("b.png", image_bytes("PNG", color=(90, 2, 3))),
    )
    run_task()
    for image in (a, b):
        image.refresh_from_db()
        assert image.status == Image.Status.DONE, image.error
    bad.refresh_from_db()
    assert bad.status == Image.Status.QUEUED and bad.attempts == 1
    assert "HTTP 503" in bad.error


# --- leases --------------------------------------------------------------------------------------


def test_leases_are_short_by_default(user, tiny_model):
    from django.conf import settings as live

    assert live.CAPTION_LEASE_SECONDS <= 60
    assert live.Q_CLUSTER["timeout"] / 2 >= live.CAPTION_TASK_BUDGET_SECONDS
    submit(user, upload("a.png", image_bytes("PNG")))
    _, claimed = images_claim(worker_id="w", limit=1)
    assert claimed[0].claim_expires_at <= timezone.now() + timedelta(seconds=61)


def test_the_lease_is_renewed_while_a_batch_is_worked_on(user, settings, tiny_model):
    from captions.services.worker import lease_kept

    settings.CAPTION_LEASE_SECONDS = 3
    image = submit(user, upload("a.png", image_bytes("PNG")))[0]
    token, _ = images_claim(worker_id="w", limit=1)
    first = Image.objects.get(pk=image.pk).claim_expires_at
    with lease_kept(claim_token=token):
        time.sleep(4.5)  # longer than the lease: without renewal the sweep would take it back
        images_requeue_stale()
        held = Image.objects.get(pk=image.pk)
    assert held.status == Image.Status.PROCESSING and held.claim_token == token
    assert held.claim_expires_at > first
    # Once the block ends, nothing renews it any more: the lease runs out.
    time.sleep(3.2)
    images_requeue_stale()
    assert Image.objects.get(pk=image.pk).status == Image.Status.QUEUED


def test_a_run_keeps_its_time_budget_and_enqueues_a_follow_up(user, settings, tiny_model):
    settings.CAPTION_BATCH_SIZE = 1
    submit(user, *[upload(f"{i}.png", image_bytes("PNG", color=(i * 30, 5, 5))) for i in range(3)])
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage

    broker = get_broker()  # the ORM broker by default, Redis when REDIS_URL is set
    broker.purge_queue()  # the wake-ups of the submission
    summary = caption_pending_run(budget_seconds=0.0001, max_batches=None)
    # One batch always (a run makes progress), then the budget is spent: the rest waits for the follow-up.
    assert summary.captioned == 1
    assert Image.objects.filter(status=Image.Status.QUEUED).count() >= 2
    assert broker.queue_size() == 1
    task_id, payload = broker.dequeue()[0]
    broker.acknowledge(task_id)
    assert "caption_pending" in str(SignedPackage.loads(payload)["func"])


def test_claims_of_dead_local_workers_are_released_at_once(user, settings, tiny_model):
    images = submit(user, upload("a.jpg", image_bytes("JPEG")), upload("b.png", image_bytes("PNG")))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "captionsite.test_settings", "DATABASE_URL": database_url_of_this_test(),
           "MEDIA_ROOT": settings.MEDIA_ROOT}
    crash = subprocess.run([sys.executable, "-c", CLAIM_AS_THIS_HOST_THEN_DIE], cwd=REPO_ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
    assert crash.returncode == -9, crash.stderr
    assert set(Image.objects.values_list("status", flat=True)) == {Image.Status.PROCESSING}
    # A live process's claim (this test's own) is left alone.
    mine = submit(user, upload("mine.png", image_bytes("PNG", color=(3, 3, 3))))[0]
    images_claim(worker_id=worker_identity(), limit=1)

    run_task()  # the lease (60 s) still holds, but its owner is dead: released and captioned now
    for image in Image.objects.filter(pk__in=[i.pk for i in images]):
        assert image.status == Image.Status.DONE, image.error
        assert image.attempts == 2
    assert Image.objects.get(pk=mine.pk).status == Image.Status.PROCESSING


def test_a_dead_worker_left_as_an_unreaped_zombie_counts_as_dead(user, settings, tiny_model):
    """A killed worker whose parent does not reap it (orphans in a container whose PID 1 reaps
    nothing) stays a zombie: os.kill(pid, 0) still succeeds, yet its claims are released."""
    import signal
    import socket

    images = submit(user, upload("z.png", image_bytes("PNG", color=(9, 90, 200))))
    zombie = subprocess.Popen(["sleep", "60"])
    try:
        os.kill(zombie.pid, signal.SIGKILL)
        time.sleep(0.3)  # killed, not reaped: a zombie
        Image.objects.filter(pk=images[0].pk).update(
            status=Image.Status.PROCESSING, claim_token=f"{socket.gethostname()}:{zombie.pid}:feedface",
            claimed_at=timezone.now(), claim_expires_at=timezone.now() + timedelta(seconds=60), attempts=1,
        )
        assert images_release_dead_local_claims() == 1
    finally:
        zombie.wait()
    assert Image.objects.get(pk=images[0].pk).status == Image.Status.QUEUED


CLAIM_AS_THIS_HOST_THEN_DIE = """
import os, signal, django
django.setup()
from captions.services.queue import claim_owner, images_claim, images_release_dead_local_claims, images_requeue_stale, worker_identity
from captions.services.worker import caption_pending_run, caption_record
token, claimed = images_claim(worker_id=worker_identity(), limit=8)
assert len(claimed) == 2, claimed
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_claim_owner_parses_tokens():
    assert claim_owner("web-1.example:4242:0123456789ab") == ("web-1.example", 4242)
    assert claim_owner("doomed:0123456789ab") is None
    assert claim_owner("") is None


# --- stale images: retry, readiness, metrics -------------------------------------------------------


def _make_stale(image, settings):
    long_ago = timezone.now() - timedelta(seconds=settings.CAPTION_STALE_PROCESSING_SECONDS + 5)
    images_claim(worker_id="gone-host:1", limit=1)
    Image.objects.filter(pk=image.pk).update(claimed_at=long_ago)


def test_the_owner_can_retry_a_stale_processing_image(client, user, settings, tiny_model):
    client.force_login(user)
    image = submit(user, upload("a.png", image_bytes("PNG")))[0]
    images_claim(worker_id="busy-host:1", limit=1)
    from django.urls import reverse

    detail = reverse("captions:image_detail", args=[image.public_id])
    retry = reverse("captions:image_retry", args=[image.public_id])
    assert b">Retry<" not in client.get(detail).content  # a fresh, renewed claim: nothing to retry
    client.post(retry)
    assert Image.objects.get(pk=image.pk).status == Image.Status.PROCESSING  # refused

    Image.objects.filter(pk=image.pk).update(claim_expires_at=timezone.now() - timedelta(seconds=1))
    assert b">Retry<" in client.get(detail).content
    client.post(retry)
    image.refresh_from_db()
    assert image.status == Image.Status.QUEUED and image.attempts == 0 and image.claim_token == ""
    run_task()
    assert Image.objects.get(pk=image.pk).status == Image.Status.DONE


def test_the_api_retries_a_stale_processing_image(user, settings, tiny_model):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(user)
    image = submit(user, upload("a.png", image_bytes("PNG")))[0]
    url = f"/api/v1/images/{image.public_id}/retry/"
    images_claim(worker_id="busy-host:1", limit=1)
    assert api.post(url).status_code == 409  # its worker is renewing the lease
    _make_stale(image, settings)  # held past CAPTION_STALE_PROCESSING_SECONDS
    response = api.post(url)
    assert response.status_code == 202 and response.json()["status"] == "queued"


def test_readiness_and_metrics_report_stale_processing_images(client, user, settings):
    from monitoring.health import CHECKS

    image = submit(user, upload("a.png", image_bytes("PNG")))[0]
    assert CHECKS["queue"]() == {"ok": True, "stale_processing": 0, "detail": CHECKS["queue"]()["detail"]}
    _make_stale(image, settings)
    assert client.get("/health/ready/").status_code == 503
    check = CHECKS["queue"]()
    assert check["ok"] is False and check["stale_processing"] == 1

    from monitoring.metrics import QueueDepthCollector

    values = {m.name: m.samples[0].value for m in QueueDepthCollector().collect() if m.samples}
    assert values["captionsite_images_stale_processing"] == 1


def test_lease_renewal_thread_stops_with_the_block(user, settings, tiny_model):
    from captions.services.worker import lease_kept

    before = threading.active_count()
    with lease_kept(claim_token="nothing:1:abc", lease_seconds=1):
        assert threading.active_count() == before + 1
    assert threading.active_count() == before
