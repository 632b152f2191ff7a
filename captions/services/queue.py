"""The queue of record (the Image table): waking the workers, claiming images under a lease,
recording a failed attempt, requeueing, retrying, deleting, and the sweep that recovers images
from crashed workers and lost messages."""

import logging
import os
import socket
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from captions.models import Image
from captions.selectors import captioning_defaults
from captions.services.results import SweepSummary, WorkerRunSummary
from core import metrics
from core.tasks import enqueue

logger = logging.getLogger(__name__)

def caption_workers_wake() -> None:
    """Send one wake-up message to the workers. The database, not the message, says what to do,
    so a lost message only delays work until the sweep sends another."""
    from captions.tasks import caption_pending  # the task module imports these services

    try:
        enqueue(caption_pending, task_name="caption-pending")
    except Exception:  # the broker is down: the scheduled sweep wakes the workers later
        logger.exception("Could not enqueue the captioning task; the sweep will retry.")


def image_requeue(*, image_id: int, from_status: str, **changes) -> bool:
    """Put an image in `from_status` back in the queue with a fresh attempt budget (and, with
    `changes`, new params or model) and wake a worker once committed. False if it was not in
    that status (someone else moved it first)."""
    now = timezone.now()
    updated = Image.objects.filter(pk=image_id, status=from_status).update(
        status=Image.Status.QUEUED,
        attempts=0,
        error="",
        available_at=now,
        claim_token="",
        claimed_at=None,
        claim_expires_at=None,
        finished_at=None,
        updated_at=now,
        **changes,
    )
    if updated:
        transaction.on_commit(caption_workers_wake)
    return bool(updated)


def image_retry(*, image: Image) -> Image:
    """Queue a failed image again with a fresh attempt budget."""
    if not image_requeue(image_id=image.pk, from_status=Image.Status.FAILED):
        raise ValidationError("Only a failed image can be retried.")
    image.refresh_from_db()
    return image


def image_delete(*, image: Image) -> None:
    """Remove the image, its captions and its files (files go once the rows are gone)."""
    paths = [p for p in (image.file.name, image.thumbnail.name) if p]
    with transaction.atomic():
        image.delete()
        transaction.on_commit(lambda: [default_storage.delete(p) for p in paths])


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def images_claim(*, worker_id: str, limit: int, lease_seconds: int | None = None) -> tuple[str, list[Image]]:
    """Take up to `limit` queued images for this worker, with a lease that expires.

    On PostgreSQL the candidate rows are locked with SKIP LOCKED so concurrent workers take
    different images; on SQLite the IMMEDIATE transaction holds the database write lock. In both
    cases the status guard on the UPDATE makes a double claim impossible.
    """
    lease = timedelta(seconds=lease_seconds or settings.CAPTION_LEASE_SECONDS)
    token = f"{worker_id}:{uuid.uuid4().hex[:12]}"
    now = timezone.now()
    with transaction.atomic():
        candidates = Image.objects.filter(status=Image.Status.QUEUED, available_at__lte=now).order_by(
            "available_at", "id"
        )
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        ids = list(candidates.values_list("id", flat=True)[:limit])
        if not ids:
            return token, []
        Image.objects.filter(id__in=ids, status=Image.Status.QUEUED).update(
            status=Image.Status.PROCESSING,
            claimed_at=now,
            claim_expires_at=now + lease,
            claim_token=token,
            attempts=F("attempts") + 1,
            updated_at=now,
        )
    return token, list(Image.objects.filter(claim_token=token).select_related("owner").order_by("id"))


def image_attempt_failed(*, image: Image, claim_token: str, reason: str, permanent: bool = False) -> WorkerRunSummary:
    """Record a failed attempt: back to the queue after a delay, or failed for good once the
    attempts are spent (or at once when retrying cannot help, such as a model that won't load)."""
    now = timezone.now()
    current = Image.objects.filter(pk=image.pk, claim_token=claim_token, status=Image.Status.PROCESSING)
    attempts = current.values_list("attempts", flat=True).first()
    if attempts is None:
        return WorkerRunSummary()
    metrics.observe_failure(
        image.model_spec or captioning_defaults().model_spec, final=permanent or attempts >= settings.CAPTION_MAX_ATTEMPTS
    )
    if permanent or attempts >= settings.CAPTION_MAX_ATTEMPTS:
        if not permanent:
            reason = f"{reason} (gave up after {attempts} attempts)"
        current.update(status=Image.Status.FAILED, error=reason, finished_at=now, claim_expires_at=None, updated_at=now)
        return WorkerRunSummary(failed=1)
    current.update(
        status=Image.Status.QUEUED,
        error=f"Attempt {attempts} failed: {reason}",
        available_at=now + timedelta(seconds=settings.CAPTION_RETRY_DELAY_SECONDS * attempts),
        claim_expires_at=None,
        updated_at=now,
    )
    return WorkerRunSummary(retried=1)


def images_requeue_stale() -> SweepSummary:
    """Recover images from crashed workers and lost messages (run on a schedule)."""
    now = timezone.now()
    expired = Image.objects.filter(status=Image.Status.PROCESSING, claim_expires_at__lt=now)
    failed = expired.filter(attempts__gte=settings.CAPTION_MAX_ATTEMPTS).update(
        status=Image.Status.FAILED,
        error=(
            f"A worker stopped while captioning this image {settings.CAPTION_MAX_ATTEMPTS} times "
            "(its lease expired each time). Retry it, and check the worker logs."
        ),
        finished_at=now,
        claim_expires_at=None,
        updated_at=now,
    )
    requeued = expired.update(
        status=Image.Status.QUEUED,
        error="The worker captioning this image stopped before finishing; it was queued again.",
        available_at=now,
        claim_expires_at=None,
        updated_at=now,
    )
    # Cheap to over-send: a worker that wakes to an empty queue returns at once.
    woke = Image.objects.filter(status=Image.Status.QUEUED, available_at__lte=now).exists()
    if woke:
        caption_workers_wake()
    return SweepSummary(requeued=requeued, failed=failed, woke=woke)
