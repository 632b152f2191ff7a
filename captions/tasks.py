"""django-q2 entry points: thin shells around services."""

from captions import services


def caption_pending() -> dict:
    """Woken by a broker message: caption queued images until none is left."""
    services.worker_heartbeat_record(check_model=False)
    return services.caption_pending_run().__dict__


def requeue_stale() -> dict:
    """Scheduled every minute: recover images from crashed workers and lost messages."""
    return services.images_requeue_stale().__dict__


def worker_heartbeat() -> dict:
    """Scheduled every minute: tell /health/ready/ this worker lives and can load CAPTION_MODEL."""
    heartbeat = services.worker_heartbeat_record(check_model=True)
    return {"worker": heartbeat.worker_id, "model_ok": heartbeat.model_ok, "model_error": heartbeat.model_error}


def demo_images_purge() -> dict:
    """Scheduled: delete anonymous demo uploads older than DEMO_RETENTION_MINUTES."""
    return {"deleted": services.demo_images_purge()}
