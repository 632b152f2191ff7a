"""Request id and HTTP metrics for every request (the first middlewares, so they see it all)."""

import logging
import time

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings

from core import logs, metrics

request_logger = logging.getLogger("monitoring.requests")

REQUEST_ID_HEADER = "X-Request-ID"
# Any other method a client invents is counted as "other", so it cannot add label values.
KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


class SyncAndAsyncMiddleware:
    """Runs sync under WSGI and async under ASGI, so an async view (the waiting predict) is
    awaited on the event loop instead of holding a thread through a sync middleware."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)


class RequestIdMiddleware(SyncAndAsyncMiddleware):
    """Takes the proxy's X-Request-ID (when it looks sane) or makes one; every log line of the
    request carries it and the response sends it back, so a user's report can be found in logs."""

    def __call__(self, request):
        if self.async_mode:
            return self._acall(request)
        request_id = logs.request_id_for(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        token = logs.bind_request_id(request_id)
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            return response
        finally:
            logs.unbind_request_id(token)

    async def _acall(self, request):
        request_id = logs.request_id_for(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        token = logs.bind_request_id(request_id)
        try:
            response = await self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            return response
        finally:
            logs.unbind_request_id(token)


class MetricsMiddleware(SyncAndAsyncMiddleware):
    """Counts requests by view name (never by raw path: ids in paths would explode the series)
    and records their latency; with LOG_REQUESTS, writes one access line per request."""

    def __call__(self, request):
        if self.async_mode:
            return self._acall(request)
        started = time.perf_counter()
        response = self.get_response(request)
        return self._record(request, response, time.perf_counter() - started)

    async def _acall(self, request):
        started = time.perf_counter()
        response = await self.get_response(request)
        return self._record(request, response, time.perf_counter() - started)

    def _record(self, request, response, elapsed: float):
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


class AsyncStreamingMiddleware(SyncAndAsyncMiddleware):
    """Under ASGI, a streaming response with a sync iterator (a FileResponse: WhiteNoise's static
    files, the private image files) is streamed from an async iterator that reads each block in a
    thread. Django's ASGI handler would otherwise warn "StreamingHttpResponse must consume
    synchronous iterators" and read the whole file into memory before sending it. Under WSGI
    nothing changes. The first middleware, so it sees every response."""

    def __call__(self, request):
        if self.async_mode:
            return self._acall(request)
        return self.get_response(request)

    async def _acall(self, request):
        response = await self.get_response(request)
        if getattr(response, "streaming", False) and not response.is_async:
            response.streaming_content = _blocks_in_a_thread(response.streaming_content)
        return response


async def _blocks_in_a_thread(blocks):
    """The blocks of a sync iterator, each read by sync_to_async (file reads never block the loop)."""
    done = object()
    read_next = sync_to_async(next, thread_sensitive=False)
    iterator = iter(blocks)
    while (block := await read_next(iterator, done)) is not done:
        yield block
