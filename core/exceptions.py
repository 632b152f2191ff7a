"""The API's one error format, for every status:

    {"detail": "what went wrong, for a person", "code": "machine_readable", "errors": {field: [messages]}}

`errors` is empty unless particular fields are at fault. DRF's exceptions, Django's
ValidationError (raised by services), Http404 and rate limits all pass through
`api_exception_handler`; the 404 and 500 handlers answer in the same shape under /api/.

A service the site depends on being unreachable (the database, Redis: INFRASTRUCTURE_ERRORS) is
a 503 with Retry-After and this body, on the API and on pages, never a 500. The media storage
(a disk or a bucket) that cannot be written is one of them (StorageUnavailable); a full one is a
507 with Retry-After (StorageFull). Both are logged as one line, never a traceback.
"""

import logging
import sys

from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.utils import InterfaceError as DatabaseInterfaceError
from django.db.utils import OperationalError as DatabaseOperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import exceptions, status
from rest_framework.serializers import as_serializer_error
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler

NON_FIELD_ERRORS = api_settings.NON_FIELD_ERRORS_KEY
logger = logging.getLogger(__name__)

class StorageUnavailable(ConnectionError):
    """The media storage (disk or bucket) could not be read or written; nothing was kept."""


class StorageFull(Exception):
    """The media storage is full (no space, over quota); nothing was kept."""


# A dependency that does not answer: the database (Django wraps the driver's errors in these),
# Redis (cache and broker), or a socket to either.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    DatabaseOperationalError,
    DatabaseInterfaceError,
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
    TimeoutError,
)
# Seconds a client should wait before trying again after a 503.
UNAVAILABLE_RETRY_AFTER = 30
UNAVAILABLE_DETAIL = "A service this site depends on is unavailable; try again shortly."
STORAGE_FULL_DETAIL = (
    "The site's storage is full, so nothing from this request was kept; try again later "
    "(the files themselves were fine)."
)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request is too large."
    default_code = "too_large"


class ToolMissing(exceptions.APIException):
    """A tool one feature needs is not installed on this server (the detail names it); the rest
    of the API works."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A tool this request needs is not installed on this server."
    default_code = "tool_missing"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = UNAVAILABLE_DETAIL
    default_code = "unavailable"

    def __init__(self, detail=None, code=None, wait: int = UNAVAILABLE_RETRY_AFTER):
        super().__init__(detail, code)
        self.wait = wait  # DRF's handler writes it as Retry-After


class InsufficientStorage(exceptions.APIException):
    status_code = 507
    default_detail = STORAGE_FULL_DETAIL
    default_code = "storage_full"

    def __init__(self, detail=None, code=None, wait: int = UNAVAILABLE_RETRY_AFTER):
        super().__init__(detail, code)
        self.wait = wait  # DRF's handler writes it as Retry-After


class ThrottledWithReason(exceptions.Throttled):
    """A 429 whose `detail` is `reason` as given (with Retry-After: `wait` seconds)."""

    def __init__(self, reason: str, wait: float):
        super().__init__(wait=wait)
        self.reason = reason


def is_infrastructure_error(exc: BaseException | None) -> bool:
    return isinstance(exc, INFRASTRUCTURE_ERRORS)


def _log_unavailable(exc: BaseException) -> None:
    logger.warning("Answering 503: %s: %s", type(exc).__name__, exc)


def error_body(detail: str, code: str, errors: dict | None = None) -> dict:
    return {"detail": detail, "code": code, "errors": errors or {}}


def _flatten(errors, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error structures as {"field" or "field.sub" or "field.0": [messages]}."""
    if isinstance(errors, dict):
        flat: dict[str, list[str]] = {}
        for key, value in errors.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(errors, list) and errors and all(isinstance(e, (dict, list)) for e in errors):
        flat = {}
        for index, value in enumerate(errors):
            flat.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    messages = errors if isinstance(errors, list) else [errors]
    return {prefix or NON_FIELD_ERRORS: [str(m) for m in messages]}


def _first_code(codes) -> str:
    while isinstance(codes, (dict, list)) and codes:
        codes = next(iter(codes.values())) if isinstance(codes, dict) else codes[0]
    return codes if isinstance(codes, str) else "invalid"


def _as_api_exception(exc):
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(detail=as_serializer_error(exc))
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge(str(exc) or None)
    if isinstance(exc, TooManyFilesSent):
        return exceptions.ParseError("The request carries too many files.")
    if isinstance(exc, SuspiciousOperation):
        return exceptions.ParseError("The request could not be read.")
    if isinstance(exc, StorageFull):
        return InsufficientStorage()
    if is_infrastructure_error(exc):
        _log_unavailable(exc)
        return ServiceUnavailable()
    return exc


def api_exception_handler(exc, context):
    exc = _as_api_exception(exc)
    response = exception_handler(exc, context)
    if response is None:
        return None  # a bug: Django's 500 handler answers (in this format under /api/)
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        field, messages = next(iter(errors.items()))
        detail = messages[0] if field == NON_FIELD_ERRORS else f"{field}: {messages[0]}"
        response.data = error_body(detail, _first_code(exc.get_codes()), errors)
    elif isinstance(exc, ThrottledWithReason):
        response.data = error_body(exc.reason, "throttled")
    elif isinstance(exc, exceptions.Throttled):
        wait = f" Try again in {int(exc.wait)} seconds." if exc.wait else ""
        response.data = error_body(f"Too many requests.{wait}", "throttled")
    else:
        data = response.data
        detail = data.get("detail", exc.detail) if isinstance(data, dict) else exc.detail
        code = data.get("code") if isinstance(data, dict) and isinstance(data.get("code"), str) else None
        response.data = error_body(str(detail), code or _first_code(exc.get_codes()))
    return response


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request: HttpRequest, exception):
    if _is_api(request):
        return JsonResponse(error_body("Not found.", "not_found"), status=404)
    return defaults.page_not_found(request, exception)


def service_unavailable(request: HttpRequest, *, full: bool = False) -> HttpResponse:
    """503 with Retry-After (507 when the storage is full): JSON under /api/ (and for health
    checks), a short page elsewhere. Renders no template that could need the database."""
    detail, code, status_code = (
        (STORAGE_FULL_DETAIL, "storage_full", 507) if full else (UNAVAILABLE_DETAIL, "unavailable", 503)
    )
    if _is_api(request) or request.path.startswith("/health/"):
        response = JsonResponse(error_body(detail, code), status=status_code)
    else:
        response = HttpResponse(
            "<!doctype html><title>Service unavailable</title><h1>Service unavailable</h1>"
            f"<p>{detail}</p>",
            status=status_code,
        )
    response["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER)
    return response


def server_error(request: HttpRequest):
    # Django calls this inside its `except` block: the exception is the one being handled.
    exc = sys.exc_info()[1]
    if isinstance(exc, StorageFull):
        return service_unavailable(request, full=True)
    if is_infrastructure_error(exc):
        _log_unavailable(exc)
        return service_unavailable(request)
    if _is_api(request):
        return JsonResponse(
            error_body("The server failed to answer this request; it has been logged.", "server_error"), status=500
        )
    return defaults.server_error(request)
