"""Health endpoints for load balancers and orchestrators.

GET /health/live/   pure liveness: 200 whenever this process serves requests, whatever else is
                    down. For an orchestrator's restart probe (a restart fixes a hung process, not
                    a database outage).
GET /health/        the web health check (Docker HEALTHCHECK, Render's healthCheckPath): 200 when
                    this process serves AND its database answers; 503 with Retry-After otherwise,
                    so a web server with a wrong DATABASE_URL never reports healthy.
GET /health/ready/  readiness: the database answers, the broker answers, a worker sent a
                    heartbeat recently, the last worker that tried could load the active model
                    (captions.selectors.captioning_defaults: an activated one, else CAPTION_MODEL),
                    and no image is stuck in `processing` (captions.selectors.images_stale_processing).
                    200 when all hold, 503 otherwise. Anonymous callers get {"status": ...} only;
                    each check's details (engines, versions, model paths, hosts) go to a request with
                    "Authorization: Bearer <METRICS_TOKEN>" or a signed-in staff member.
Every answer is {"status": ...} JSON. The web process never loads a model: the model check
reads what the workers reported.
"""

import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from captions.selectors import captioning_defaults, images_stale_processing
from core.exceptions import UNAVAILABLE_RETRY_AFTER
from monitoring import access, selectors

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def liveness(request: HttpRequest) -> JsonResponse:
    """Pure liveness: touches nothing but this process."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def serving(request: HttpRequest) -> JsonResponse:
    """The process serves and its database answers (what every page and API call needs)."""
    try:
        _check_database()
    except Exception as error:
        logger.warning("Health check: the database is unreachable (%s: %s)", type(error).__name__, error)
        response = JsonResponse({"status": "unavailable"}, status=503)
        response["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER)
        return response
    return JsonResponse({"status": "ok"})


def _check_database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True, "detail": connection.vendor}


def _check_broker() -> dict:
    from django_q.brokers import get_broker

    broker = get_broker()
    if not broker.ping():
        return {"ok": False, "detail": "The broker did not answer."}
    return {"ok": True, "detail": broker.info(), "queued_messages": broker.queue_size()}


def _check_worker() -> dict:
    latest = selectors.latest_worker_heartbeat()
    max_age = settings.HEALTH_WORKER_MAX_AGE_SECONDS
    if latest is None:
        return {"ok": False, "detail": "No worker has sent a heartbeat yet: is `manage.py qcluster` running?"}
    age = (timezone.now() - latest.seen_at).total_seconds()
    recent = selectors.workers_seen_count(max_age_seconds=max_age)
    if age > max_age:
        return {
            "ok": False,
            "detail": f"The last worker heartbeat is {age:.0f}s old (limit {max_age}s): are the workers running?",
            "last_seen": latest.seen_at.isoformat(),
        }
    reports = selectors.recent_worker_reports(max_age_seconds=max_age)
    busy = sum(1 for report in reports if report["busy_since"] is not None)
    state = "busy" if reports and busy == len(reports) else "ready"
    return {
        "ok": True,
        "state": state,
        "busy": busy,
        "detail": f"{recent} worker(s) seen in the last {max_age}s, {busy} busy captioning.",
        "last_seen": latest.seen_at.isoformat(),
    }


def _check_model() -> dict:
    spec = captioning_defaults().model_spec
    report = selectors.latest_model_report(spec)
    if report is None:
        return {"ok": False, "detail": f"No worker has reported on loading {spec} yet.", "model": spec}
    result = {"ok": bool(report.model_ok), "model": spec, "checked_at": report.model_checked_at.isoformat()}
    if report.model_ok:
        result["detail"] = f"Loaded by {report.worker_id} as {report.model_id}."
    else:
        result["detail"] = report.model_error or "The worker could not load the model."
    return result


def _check_queue() -> dict:
    """Not ready while an image has been `processing` past CAPTION_STALE_PROCESSING_SECONDS: leases
    are renewed while a batch runs and the sweep requeues expired ones every minute, so such an
    image means a stuck worker or a stopped scheduler."""
    stale = images_stale_processing().count()
    limit = settings.CAPTION_STALE_PROCESSING_SECONDS
    if stale:
        return {
            "ok": False,
            "stale_processing": stale,
            "detail": f"{stale} image(s) processing for more than {limit}s: is the scheduler (qcluster) running?",
        }
    return {"ok": True, "stale_processing": 0, "detail": f"No image processing for more than {limit}s."}


CHECKS = {
    "database": _check_database,
    "broker": _check_broker,
    "worker": _check_worker,
    "model": _check_model,
    "queue": _check_queue,
}


@never_cache
@require_GET
def readiness(request: HttpRequest) -> JsonResponse:
    checks = {}
    for name, check in CHECKS.items():
        try:
            checks[name] = check()
        except Exception as error:  # a failing dependency is a 503 with its reason, never a 500
            checks[name] = {"ok": False, "detail": f"{type(error).__name__}: {error}"}
    ready = all(check["ok"] for check in checks.values())
    body = {"status": "ready" if ready else "not ready"}
    if access.details_allowed(authorization=request.headers.get("Authorization", ""), user=getattr(request, "user", None)):
        body["checks"] = checks
    elif not ready:
        logger.warning("Not ready: %s", {name: check.get("detail") for name, check in checks.items() if not check["ok"]})
    response = JsonResponse(body, status=200 if ready else 503)
    if not ready:
        response["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER)
    return response
