"""Request id and HTTP metrics for every request (the first middlewares, so they see it all)."""

import logging
import time

from django.conf import settings

from core import logs, metrics

request_logger = logging.getLogger("monitoring.requests")

REQUEST_ID_HEADER = "X-Request-ID"
# Any other method a client invents is counted as "other", so it cannot add label values.
KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


class RequestIdMiddleware:
    """Takes the proxy's X-Request-ID (when it looks sane) or makes one; every log line of the
    request carries it and the response sends it back, so a user's report can be found in logs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = logs.request_id_for(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        token = logs.bind_request_id(request_id)
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            return response
        finally:
            logs.unbind_request_id(token)


class MetricsMiddleware:
    """Counts requests by view name (never by raw path: ids in paths would explode the series)
    and records their latency; with LOG_REQUESTS, writes one access line per request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        match = getattr(request, "resolver_match", None)
        view = (match.view_name if match else "") or "unmatched"
        method = request.method if request.method in KNOWN_METHODS else "other"
        metrics.observe_http(view=view, method=method, status=response.status_code, seconds=elapsed)
        if settings.LOG_REQUESTS:
            request_logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "view": view,
                    "duration_ms": round(elapsed * 1000, 1),
                },
            )
        return response
