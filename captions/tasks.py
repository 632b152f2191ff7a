"""django-q2 entry points: thin shells around services."""

import time

from captions import signals
from captions.services import demo
from captions.services.queue import images_requeue_stale, worker_identity
from captions.services.worker import caption_pending_run
from core.tasks import MINUTES, ScheduleSpec


def caption_pending() -> dict:
    """Woken by a broker message: caption queued images until none is left or the run's
    CAPTION_TASK_BUDGET_SECONDS are spent (then a follow-up task is enqueued)."""
    worker_id = worker_identity()
    signals.worker_active.send(sender=None, worker_id=worker_id, busy_since=time.time())
    return caption_pending_run(worker_id=worker_id).__dict__


def requeue_stale() -> dict:
    """Scheduled every minute: recover images whose CAPTION_LEASE_SECONDS lease expired (crashed
    workers of any host) and lost messages."""
    return images_requeue_stale().__dict__


def demo_images_purge() -> dict:
    """Scheduled: delete anonymous demo uploads older than DEMO_RETENTION_MINUTES."""
    return {"deleted": demo.demo_images_purge()}


def media_sweep() -> dict:
    """Scheduled every 15 minutes: remove what killed requests left in the media and temp folders
    (captions.services.media.media_sweep)."""
    from captions.services.media import media_sweep as sweep

    return sweep().__dict__


SCHEDULES = [
    ScheduleSpec("captions: requeue stale images", requeue_stale, MINUTES, minutes=1),
    ScheduleSpec("captions: purge demo uploads", demo_images_purge, MINUTES, minutes=5),
    ScheduleSpec("captions: sweep media", media_sweep, MINUTES, minutes=15),
]
