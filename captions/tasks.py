"""django-q2 entry points: thin shells around services."""

from captions import services


def caption_pending() -> dict:
    """Woken by a broker message: caption queued images until none is left."""
    return services.caption_pending_run().__dict__


def requeue_stale() -> dict:
    """Scheduled every minute: recover images from crashed workers and lost messages."""
    return services.images_requeue_stale().__dict__
