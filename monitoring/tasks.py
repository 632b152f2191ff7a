"""django-q2 entry points of the monitoring app: thin shells around services."""

from core.tasks import MINUTES, ScheduleSpec
from monitoring import services


def worker_heartbeat() -> dict:
    """Scheduled every minute: tell /health/ready/ this worker lives and can load the active model."""
    heartbeat = services.worker_heartbeat_record(check_model=True)
    return {
        "worker": heartbeat.worker_id,
        "model_ok": heartbeat.model_ok,
        "model_error": heartbeat.model_error,
        "dtype": heartbeat.model_info.get("dtype"),
    }


# The name is the one the heartbeat schedule had when it lived in captions, so it is updated in place.
SCHEDULES = [ScheduleSpec("captions: worker heartbeat", worker_heartbeat, MINUTES, minutes=1)]
