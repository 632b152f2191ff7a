from django.conf import settings
from django.core.handlers.wsgi import LimitedStream, WSGIRequest
from django.http import HttpRequest, HttpResponse, JsonResponse

from core.exceptions import error_body
from core.middleware import SyncAndAsyncMiddleware

# Room for multipart boundaries, headers and form fields around the files themselves.
_MULTIPART_OVERHEAD_BYTES = 1024 * 1024


class UploadSizeLimitMiddleware(SyncAndAsyncMiddleware):
    """Refuses a request whose declared body could not be a valid upload, before reading it.
    Sync under WSGI, async under ASGI (so async views stay on the event loop).

    A body sent with ``Transfer-Encoding: chunked`` (no Content-Length: curl -T, some mobile HTTP
    stacks, streaming clients) is made readable to Django, which reads no body without a length,
    under the same limits. Under ASGI the server has already buffered the body (in a spooled
    temporary file, as for every ASGI request): its size becomes the length, then is judged like a
    declared one. Under WSGI, where the server marks the input as terminated (gunicorn does, having
    undone the chunking), the body is read as it arrives, up to the limit: a body beyond it is cut
    there and refused by the multipart parser (400), and each file still obeys MAX_UPLOAD_BYTES as
    it streams in. A WSGI server that cannot say where a chunked body ends gets 411.
    """

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refusal = self._refusal(request)
        if self.async_mode:
            return self._acall(request, refusal)
        return refusal or self.get_response(request)

    async def _acall(self, request: HttpRequest, refusal: HttpResponse | None) -> HttpResponse:
        return refusal or await self.get_response(request)

    def _refusal(self, request: HttpRequest) -> HttpResponse | None:
        limit = settings.MAX_UPLOAD_BYTES * settings.MAX_FILES_PER_UPLOAD + _MULTIPART_OVERHEAD_BYTES
        refusal = _chunked_body_readable(request, limit)
        if refusal:
            return _answer(request, refusal, "length_required", 411)
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            detail = (
                f"The request is {declared} bytes; an upload may carry at most "
                f"{settings.MAX_FILES_PER_UPLOAD} files of {settings.MAX_UPLOAD_BYTES} bytes each."
            )
            return _answer(request, detail, "too_large", 413)
        return None


def _answer(request: HttpRequest, detail: str, code: str, status: int) -> HttpResponse:
    if request.path.startswith("/api/") or "application/json" in request.META.get("HTTP_ACCEPT", ""):
        return JsonResponse(error_body(detail, code), status=status)
    return HttpResponse(detail, status=status, content_type="text/plain; charset=utf-8")


def _chunked_body_readable(request: HttpRequest, limit: int) -> str:
    """Give a chunked request (no Content-Length) a length Django can read its body with; "" when
    done or not needed, else why the body cannot be read (see UploadSizeLimitMiddleware)."""
    meta = request.META
    if "chunked" not in meta.get("HTTP_TRANSFER_ENCODING", "").lower() or meta.get("CONTENT_LENGTH"):
        return ""
    if isinstance(request, WSGIRequest):
        if not meta.get("wsgi.input_terminated"):
            return ("The request body was sent in chunks (Transfer-Encoding: chunked) to a server that cannot "
                    "read it so; send it with a Content-Length.")
        request._stream = LimitedStream(meta["wsgi.input"], limit)
        meta["CONTENT_LENGTH"] = str(limit)
        return ""
    stream = getattr(request, "_stream", None)  # ASGI: the body the handler buffered
    if stream is None or not hasattr(stream, "seek"):
        return ""
    position = stream.tell()
    stream.seek(0, 2)
    meta["CONTENT_LENGTH"] = str(stream.tell() - position)
    stream.seek(position)
    return ""
