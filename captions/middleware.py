from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from core.exceptions import error_body
from core.middleware import SyncAndAsyncMiddleware

# Room for multipart boundaries, headers and form fields around the files themselves.
_MULTIPART_OVERHEAD_BYTES = 1024 * 1024


class UploadSizeLimitMiddleware(SyncAndAsyncMiddleware):
    """Refuses a request whose declared body could not be a valid upload, before reading it.
    Sync under WSGI, async under ASGI (so async views stay on the event loop)."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refusal = self._refusal(request)
        if self.async_mode:
            return self._acall(request, refusal)
        return refusal or self.get_response(request)

    async def _acall(self, request: HttpRequest, refusal: HttpResponse | None) -> HttpResponse:
        return refusal or await self.get_response(request)

    def _refusal(self, request: HttpRequest) -> HttpResponse | None:
        limit = settings.MAX_UPLOAD_BYTES * settings.MAX_FILES_PER_UPLOAD + _MULTIPART_OVERHEAD_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            detail = (
                f"The request is {declared} bytes; an upload may carry at most "
                f"{settings.MAX_FILES_PER_UPLOAD} files of {settings.MAX_UPLOAD_BYTES} bytes each."
            )
            if request.path.startswith("/api/") or "application/json" in request.META.get("HTTP_ACCEPT", ""):
                return JsonResponse(error_body(detail, "too_large"), status=413)
            return HttpResponse(detail, status=413, content_type="text/plain; charset=utf-8")
        return None
