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
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from captions import metrics
from captions.models import Image
from captions.selectors import captioning_defaults
from captions.services.media import media_files_delete
from captions.services.results import SweepSummary, WorkerRunSummary
from core.errors import user_safe
from core.tasks import enqueue

logger = logging.getLogger(__name__)

def caption_workers_wake() -> None:
    """Send one wake-up message to the workers. The database, not the message, says what to do,
    so a lost message only delays work until the sweep sends another."""
    try:  # by its path: the task module imports these services
        enqueue("captions.tasks.caption_pending", task_name="caption-pending")
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
        error_kind="",
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
    """Queue a failed image again with a fresh attempt budget; also an image stuck in
    `processing` whose lease went stale (Image.lease_stale: its worker stopped renewing the
    lease, or has held it past CAPTION_STALE_PROCESSING_SECONDS). A worker that is in fact still
    busy with it loses its claim and records nothing (`_caption_store` checks the claim), so the
    image is never captioned twice."""
    image.refresh_from_db()
    if image.status == Image.Status.PROCESSING and image.lease_stale:
        stale = Image.objects.filter(pk=image.pk, status=Image.Status.PROCESSING, claim_token=image.claim_token)
        if not stale.update(status=Image.Status.FAILED, updated_at=timezone.now()):
            raise ValidationError("The image changed meanwhile; reload the page.")
    if not image_requeue(image_id=image.pk, from_status=Image.Status.FAILED):
        raise ValidationError("Only a failed image, or one whose worker stopped, can be retried.")
    image.refresh_from_db()
    return image


def image_delete(*, image: Image) -> None:
    """Remove the image, its captions and its files (files go once the rows are gone)."""
    paths = [p for p in (image.file.name, image.thumbnail.name) if p]
    with transaction.atomic():
        image.delete()
        transaction.on_commit(lambda: media_files_delete(paths))


def worker_identity() -> str:
    """"<hostname>:<pid>" of this process; claim tokens start with it (``claim_owner``)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_owner(claim_token: str) -> tuple[str, int] | None:
    """(hostname, pid) of the worker that made ``claim_token`` ("<host>:<pid>:<hex>"), or None
    for a token of another shape (a custom worker_id)."""
    parts = claim_token.rsplit(":", 2)
    if len(parts) != 3 or not (parts[1].isascii() and parts[1].isdigit()):
        return None
    return parts[0], int(parts[1])


def _pid_alive(pid: int) -> bool:
    """Whether process `pid` of this host still runs. A zombie (killed, not yet reaped: in a
    container whose PID 1 does not reap orphans it can stay so for good) counts as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            state = stat.read().rsplit(b")", 1)[1].split()[0]  # the field after "(comm)"
    except (OSError, IndexError):  # no /proc (not Linux) or it just went away
        return True
    return state not in (b"Z", b"X")


def images_release_dead_local_claims() -> int:
    """Queue again, at once, the images claimed by worker processes of THIS host that no longer
    exist (a worker or a whole qcluster killed with SIGKILL), instead of waiting for their lease
    to expire. Called when a worker process starts and at the start of every captioning task.
    A PID reused by an unrelated process is left alone (the lease expiry then recovers the image).
    The attempt stays counted. Returns how many images were released."""
    host = socket.gethostname()
    me = os.getpid()
    dead_tokens = set()
    tokens = (
        Image.objects.filter(status=Image.Status.PROCESSING, claim_token__startswith=f"{host}:")
        .values_list("claim_token", flat=True)
        .distinct()
    )
    for token in tokens:
        owner = claim_owner(token)
        if owner and owner[0] == host and owner[1] != me and not _pid_alive(owner[1]):
            dead_tokens.add(token)
    if not dead_tokens:
        return 0
    now = timezone.now()
    held = Image.objects.filter(status=Image.Status.PROCESSING, claim_token__in=dead_tokens)
    failed = _attempts_spent_fail(held, now)
    released = _claims_ended_requeue(held, now)
    if released or failed:
        logger.warning("Released %d image(s) claimed by dead worker processes on %s (%d failed: attempts spent).",
                       released, host, failed)
    return released + failed


WORKER_STOPPED_TOO_OFTEN = (
    "A worker stopped while captioning this image {attempts} times (killed, crashed, or past "
    "Q_TASK_TIMEOUT_SECONDS; its lease expired or its process was gone each time), so it was not "
    "tried again. Retry it, and check the worker logs; a very large ensemble or batch may need "
    "a longer Q_TASK_TIMEOUT_SECONDS."
)


def _attempts_spent_fail(held, now) -> int:
    """Fail, with the reason, the images of `held` (claims that ended without a result: a
    process killed by the task timeout, one that died, a lease that expired) whose attempts are
    spent: a claim that always ends this way must not be taken forever."""
    return held.filter(attempts__gte=settings.CAPTION_MAX_ATTEMPTS).update(
        status=Image.Status.FAILED,
        error=WORKER_STOPPED_TOO_OFTEN.format(attempts=settings.CAPTION_MAX_ATTEMPTS),
        error_kind=Image.FailureKind.WORKER_STOPPED,
        finished_at=now,
        claim_token="",
        claim_expires_at=None,
        updated_at=now,
    )


def _claims_ended_requeue(held, now) -> int:
    """Queue again, at once, the images of `held` whose claim ended without a result."""
    return held.update(
        status=Image.Status.QUEUED,
        error="The worker captioning this image stopped before finishing; it was queued again.",
        error_kind=Image.FailureKind.WORKER_STOPPED,
        available_at=now,
        claim_token="",
        claim_expires_at=None,
        updated_at=now,
    )


def images_leases_expired_release(now=None) -> tuple[int, int]:
    """(requeued, failed): the images whose claim lease expired (their worker or host died)
    queued again at once, or failed with the reason once their attempts are spent. Run by every
    claim (so a live worker takes a dead host's images within one lease, whatever the sweep
    schedule) and by the sweep."""
    now = now or timezone.now()
    expired = Image.objects.filter(status=Image.Status.PROCESSING, claim_expires_at__lt=now)
    failed = _attempts_spent_fail(expired, now)
    requeued = _claims_ended_requeue(expired, now)
    return requeued, failed


def images_lease_renew(*, claim_token: str, lease_seconds: int | None = None) -> int:
    """Extend the lease of the images still held under ``claim_token`` to now + lease_seconds
    (default CAPTION_LEASE_SECONDS). Returns how many rows were renewed (0: the claim was lost)."""
    now = timezone.now()
    lease = timedelta(seconds=lease_seconds or settings.CAPTION_LEASE_SECONDS)
    return Image.objects.filter(claim_token=claim_token, status=Image.Status.PROCESSING).update(
        claim_expires_at=now + lease
    )


# How many ranked candidates a claim looks at per image it takes: rows another worker holds
# (SKIP LOCKED) are passed over without leaving this claim short.
CLAIM_OVERSAMPLE = 4


def images_claim(*, worker_id: str, limit: int, lease_seconds: int | None = None) -> tuple[str, list[Image]]:
    """Take up to `limit` queued images for this worker, with a lease that expires.

    Fair between owners: the candidates are ranked in the query itself by their place in their
    owner's own queue (ROW_NUMBER() OVER (PARTITION BY owner ORDER BY available_at, id)), so a batch
    takes every waiting owner's first image before anybody's second: a user with 5 images waits at
    most about one batch behind another's backlog of thousands, instead of behind all of it.
    Interactive images (predict, the demo: somebody waits for the answer) go before all bulk work,
    in their owner's queue and overall.

    On PostgreSQL the chosen rows are then locked with SKIP LOCKED so concurrent workers take
    different images (a window query cannot be locked itself, so the ranking is a subquery over
    CLAIM_OVERSAMPLE x `limit` candidates); on SQLite the IMMEDIATE transaction holds the database
    write lock. In both cases the status guard on the UPDATE makes a double claim impossible.
    """
    from django.db.models import Window
    from django.db.models.functions import RowNumber

    lease = timedelta(seconds=lease_seconds or settings.CAPTION_LEASE_SECONDS)
    token = f"{worker_id}:{uuid.uuid4().hex[:12]}"
    now = timezone.now()
    images_leases_expired_release(now)
    with transaction.atomic():
        ranked = (
            Image.objects.filter(status=Image.Status.QUEUED, available_at__lte=now)
            .annotate(owner_rank=Window(RowNumber(), partition_by=[F("owner_id")],
                                        order_by=[F("priority").desc(), F("available_at").asc(), F("id").asc()]))
            .order_by("-priority", "owner_rank", "available_at", "id")
            .values_list("id", "owner_rank")[: limit * CLAIM_OVERSAMPLE]
        )
        order = {image_id: place for place, (image_id, _) in enumerate(ranked)}
        if not order:
            return token, []
        candidates = Image.objects.filter(id__in=list(order), status=Image.Status.QUEUED)
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        ids = sorted(candidates.values_list("id", flat=True), key=order.__getitem__)[:limit]
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


def image_attempt_failed(
    *, image: Image, claim_token: str, reason: str, kind: str = "", permanent: bool = False
) -> WorkerRunSummary:
    """Record a failed attempt: back to the queue after a delay, or failed for good once the
    attempts are spent (or at once when retrying cannot help, such as a model that won't load).
    `kind` (an Image.FailureKind) is stored beside the reason, so the owner is told what happened
    without the page guessing from the words. The reason is shown to the owner: server paths in it
    are replaced (core.errors.user_safe), whatever raised it."""
    reason = user_safe(reason)
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
        current.update(
            status=Image.Status.FAILED, error=reason, error_kind=kind, finished_at=now, claim_expires_at=None,
            updated_at=now,
        )
        return WorkerRunSummary(failed=1)
    current.update(
        status=Image.Status.QUEUED,
        error=f"Attempt {attempts} failed: {reason}",
        error_kind=kind,
        available_at=now + timedelta(seconds=settings.CAPTION_RETRY_DELAY_SECONDS * attempts),
        claim_expires_at=None,
        updated_at=now,
    )
    return WorkerRunSummary(retried=1)


def images_requeue_stale() -> SweepSummary:
    """Recover images from crashed workers and lost messages (run on a schedule, and every few
    seconds by each worker process's watch thread: captions.services.worker.worker_watch_start)."""
    now = timezone.now()
    requeued, failed = images_leases_expired_release(now)
    # Cheap to over-send: a worker that wakes to an empty queue returns at once.
    woke = Image.objects.filter(status=Image.Status.QUEUED, available_at__lte=now).exists()
    if woke:
        caption_workers_wake()
    return SweepSummary(requeued=requeued, failed=failed, woke=woke)
