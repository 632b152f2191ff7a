"""Every way a claim ends without a result counts as an attempt, and an image past
CAPTION_MAX_ATTEMPTS fails with the reason instead of being taken forever: a worker process that
died on this host (killed by the task timeout, or crashed), a lease that expired (a dead host).
Recovery does not wait behind a captioning task: a dead host's images are taken again within
lease + CAPTION_WATCH_SECONDS + 10 s while the only worker is busy, and a busy worker is
reported busy, never missing."""

import socket
import subprocess
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from captions.models import Image
from captions.services.queue import (
    images_claim,
    images_leases_expired_release,
    images_release_dead_local_claims,
    worker_identity,
)
from tests.images import image_bytes, upload
from tests.worker.worker_helpers import submit

pytestmark = pytest.mark.django_db(transaction=True)


def a_dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def held_by(image: Image, token: str, *, attempts: int, expires_in: float) -> None:
    Image.objects.filter(pk=image.pk).update(
        status=Image.Status.PROCESSING, claim_token=token, claimed_at=timezone.now(),
        claim_expires_at=timezone.now() + timedelta(seconds=expires_in), attempts=attempts,
    )


def test_a_dead_local_process_counts_an_attempt_and_past_the_maximum_the_image_fails(user, settings, tiny_model):
    """What a task-timeout kill leaves: a claim of a process of this host that is gone. Below the
    maximum the image is queued again; at the maximum it fails with the reason, not a loop."""
    settings.CAPTION_MAX_ATTEMPTS = 3
    spent, left = submit(user, upload("spent.png", image_bytes("PNG")), upload("left.png", image_bytes("PNG", color=(1, 2, 3))))
    dead = f"{socket.gethostname()}:{a_dead_pid()}:deadbeef0001"
    held_by(spent, dead, attempts=3, expires_in=600)
    held_by(left, dead, attempts=1, expires_in=600)

    assert images_release_dead_local_claims() == 2
    spent.refresh_from_db()
    left.refresh_from_db()
    assert spent.status == Image.Status.FAILED and spent.error_kind == Image.FailureKind.WORKER_STOPPED
    assert "3 times" in spent.error and "Q_TASK_TIMEOUT_SECONDS" in spent.error
    assert left.status == Image.Status.QUEUED and left.attempts == 1
    # The next claim counts the attempt; the failed image is never claimed again.
    _token, claimed = images_claim(worker_id=worker_identity(), limit=8)
    assert [image.pk for image in claimed] == [left.pk] and claimed[0].attempts == 2


def test_an_expired_lease_counts_an_attempt_and_the_claim_itself_takes_it_back(user, settings, tiny_model):
    settings.CAPTION_MAX_ATTEMPTS = 3
    spent, left = submit(user, upload("spent.png", image_bytes("PNG")), upload("left.png", image_bytes("PNG", color=(1, 2, 3))))
    held_by(spent, "gone-host:4242:0123456789ab", attempts=3, expires_in=-1)
    held_by(left, "gone-host:4242:0123456789ab", attempts=2, expires_in=-1)

    _token, claimed = images_claim(worker_id=worker_identity(), limit=8)
    assert [image.pk for image in claimed] == [left.pk] and claimed[0].attempts == 3
    spent.refresh_from_db()
    assert spent.status == Image.Status.FAILED and "3 times" in spent.error


def test_a_lease_still_valid_is_not_taken(user, tiny_model):
    image = submit(user, upload("a.png", image_bytes("PNG")))[0]
    held_by(image, "other-host:1:0123456789ab", attempts=1, expires_in=60)
    assert images_leases_expired_release() == (0, 0)
    assert images_claim(worker_id=worker_identity(), limit=8)[1] == []


@pytest.fixture
def short_lease(monkeypatch, settings):
    monkeypatch.setenv("CAPTION_LEASE_SECONDS", "6")
    monkeypatch.setenv("CAPTION_WATCH_SECONDS", "1")
    monkeypatch.setenv("CAPTION_BATCH_SIZE", "1")
    monkeypatch.setenv("Q_WORKERS", "1")
    settings.HEALTH_WORKER_MAX_AGE_SECONDS = 15
    return 6


@pytest.mark.slow
def test_a_dead_hosts_images_are_taken_again_within_the_lease_while_the_only_worker_is_busy(
    user, settings, short_lease, qcluster, client
):
    # The only worker is kept busy by a long run (one image per batch, long captions).
    busy = [image for part in range(2) for image in submit(
        user, *[upload(f"busy{part}-{i}.png", image_bytes("PNG", color=(i * 5, 90 + part, 9))) for i in range(50)],
        params={"num_beams": 4, "max_length": 60, "min_length": 60})]
    deadline = time.monotonic() + 120
    while not Image.objects.filter(status=Image.Status.DONE).exists():
        assert time.monotonic() < deadline, "the worker never started"
        time.sleep(0.2)
    # Meanwhile, a host that died held two images under a lease that runs out in `short_lease` s.
    orphans = submit(user, upload("o1.png", image_bytes("PNG", color=(250, 1, 1))),
                     upload("o2.png", image_bytes("PNG", color=(1, 250, 1))))
    died_at = time.monotonic()
    for image in orphans:
        held_by(image, "dead-host:999:0123456789ab", attempts=1, expires_in=short_lease)

    # The only worker is busy captioning, and is reported so, alive.
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    ops = get_user_model().objects.create_user(email="ops@example.com", password="x" * 20, is_staff=True)
    ops.user_permissions.add(Permission.objects.get(codename="view_operations"))  # health details need it
    client.force_login(ops)
    wait_until = time.monotonic() + 5  # the watch thread reports every second
    while (ready := client.get("/health/ready/")).status_code != 200 and time.monotonic() < wait_until:
        time.sleep(0.3)
    assert ready.status_code == 200, ready.content
    worker = ready.json()["checks"]["worker"]
    assert worker["ok"] and worker["busy"] == 1 and worker["state"] == "busy", worker

    while Image.objects.filter(pk__in=[i.pk for i in orphans], claim_token__startswith="dead-host:").exists():
        assert time.monotonic() - died_at < short_lease + 10, "a dead host's images were not released in time"
        time.sleep(0.2)
    released_after = time.monotonic() - died_at
    assert Image.objects.exclude(status=Image.Status.DONE).filter(pk__in=[i.pk for i in busy]).exists(), (
        "the run had finished: the release was not tested while the worker was busy")
    qcluster(len(busy) + len(orphans), timeout=480)
    for image in Image.objects.filter(pk__in=[i.pk for i in orphans]):
        assert image.status == Image.Status.DONE and image.attempts == 2
    print(f"\na dead host's images released {released_after:.1f}s after it died (lease {short_lease}s)")
