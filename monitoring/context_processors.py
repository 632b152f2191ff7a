"""Template context for every page: whether captioning is paused, for the site-wide banner."""

from django.conf import settings
from django.http import HttpRequest

from monitoring.selectors import recent_worker_reports

PAUSED_NO_WORKER = "Captioning is paused: no worker is running. Your images are kept and will be captioned when one starts."
BUSY = "The workers are busy captioning; your images are queued and will be captioned in turn."
PAUSED_NO_MODEL = (
    "Captioning is paused: the model is not available. Your images are kept; once it is back, "
    "press Retry on the ones that failed (or Retry failed in the gallery)."
)


def captioning_status(request: HttpRequest) -> dict:
    """{"captioning_paused": None or {"message": str for everyone, "detail": str for staff only}}
    or {"captioning_busy": {"message": str}} when every live worker is captioning (a busy worker
    is alive: never "no worker").

    Signed-in users' whole pages only (anonymous pages and htmx fragments make no query). Reads the workers' heartbeats: paused when
    no worker was seen in the last HEALTH_WORKER_MAX_AGE_SECONDS, or when every recent worker that
    tried to load the model failed (model_ok False). One query of at most 50 rows.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.history_restore_request:
        return {}  # a fragment (a poll every few seconds) shows no banner: spare the query
    recent = recent_worker_reports(max_age_seconds=settings.HEALTH_WORKER_MAX_AGE_SECONDS)
    if not recent:
        return {"captioning_paused": {"message": PAUSED_NO_WORKER, "detail": (
            f"No worker heartbeat in the last {settings.HEALTH_WORKER_MAX_AGE_SECONDS} s: is `manage.py qcluster` running?"
        )}}
    checked = [beat for beat in recent if beat["model_ok"] is not None]
    if all(beat["busy_since"] is not None for beat in recent):
        return {"captioning_busy": {"message": BUSY}}
    if checked and not any(beat["model_ok"] for beat in checked):
        detail = "; ".join(sorted({f"{b['worker_id']} ({b['model_spec']}): {b['model_error']}" for b in checked}))
        return {"captioning_paused": {"message": PAUSED_NO_MODEL, "detail": detail}}
    return {}
