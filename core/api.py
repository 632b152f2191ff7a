"""Plumbing shared by the API views of every app: pagination, rate limits, the error schema and
routing several one-operation views to one URL."""

import functools
import re

from django.conf import settings
from django.core import checks
from django.core.cache import cache as default_cache
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from core import throttle
from core.exceptions import INFRASTRUCTURE_ERRORS


class Pagination(PageNumberPagination):
    """?page (from 1) and ?page_size (1 to max_page_size): anything else is a 400, not ignored."""

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100

    def paginate_queryset(self, queryset, request, view=None):
        for name, high in (("page", None), (self.page_size_query_param, self.max_page_size)):
            if name in request.query_params:
                _positive_int(request.query_params.getlist(name), name, high)
        return super().paginate_queryset(queryset, request, view)


def _positive_int(values: list[str], name: str, high: int | None) -> int:
    from rest_framework.exceptions import ValidationError

    text = values[-1] if values else ""
    bound = f" and at most {high}" if high else ""
    if len(values) != 1 or not (text.isascii() and text.isdigit()) or int(text) < 1 or (high and int(text) > high) or len(text) > 18:
        # 18 digits at most: MAX_PAGE_NUMBER
        raise ValidationError({name: [f"A whole number from 1{bound} (given once)."]})
    return int(text)


# --- Rate limits ------------------------------------------------------------------------------


RATE_PATTERN = re.compile(r"^(\d+)/(\d*)(s|sec|m|min|h|hour|d|day)$")
_PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """"N/period" -> (N, seconds): period s, m, h or d (or sec, min, hour, day), optionally with a
    multiple ("100/5m"). ValueError for anything else."""
    match = RATE_PATTERN.match(str(rate).strip())
    if not match:
        raise ValueError(f"{rate!r} is not a rate such as 10/m, 100/h or 30/5m")
    count, multiple, unit = match.groups()
    return int(count), int(multiple or 1) * _PERIOD_SECONDS[unit[0]]


class RateLimit(SimpleRateThrottle):
    """DRF's own throttle (a sliding window of request times in the cache), with the rate read from
    the setting `rate_setting` per request and the client address from core.throttle: over the
    limit DRF raises Throttled, answered 429 with Retry-After (the time until a slot frees).

    It runs after authentication, so a per-user limit counts the key's or token's owner.
    With the cache (Redis) unreachable it logs a warning and counts in this process
    (core.throttle's fallback cache), so an outage never turns a request into a 500.
    RATELIMIT_ENABLE=False turns every limit off.
    """

    rate_setting: str = ""  # the name of the setting that holds the rate, read per request
    key: str = "user_or_ip"  # "user_or_ip" | "ip"
    methods: tuple[str, ...] = ("POST",)

    def __init__(self):  # the rate is read per request (settings change at run time in tests)
        pass

    def get_rate(self) -> str:
        return getattr(settings, self.rate_setting)

    def parse_rate(self, rate):
        return parse_rate(rate)

    def get_cache_key(self, request, view) -> str | None:
        user = getattr(request, "user", None)
        if self.key == "ip" or not (user and user.is_authenticated):
            ident = f"ip:{throttle.client_address(request)}"
        else:
            ident = f"user:{user.pk}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view) -> bool:
        if request.method not in self.methods or not getattr(settings, "RATELIMIT_ENABLE", True):
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self.cache = default_cache
        try:
            return super().allow_request(request, view)
        except INFRASTRUCTURE_ERRORS as error:
            throttle.warn_cache_down(error, f"the {self.scope} rate limit")
            self.cache = throttle.fallback_cache()
            return super().allow_request(request, view)

    def wait(self) -> float:
        return max(1.0, super().wait() or 1.0)


def rate_limit(group: str, rate_setting: str, *, key: str = "user_or_ip") -> type[RateLimit]:
    """The RateLimit of one API operation: `group` names its counters, `rate_setting` its rate."""
    return type(f"RateLimit_{group}", (RateLimit,), {"scope": group, "rate_setting": rate_setting, "key": key})


def rate_settings_check(app_configs=None, **kwargs) -> list:
    """A Django system check (registered by captions.apps): every API_RATE_* setting is a rate
    parse_rate reads, so a typo is an error at start-up, not a 500 on the first request."""
    errors = []
    for name in sorted(n for n in dir(settings) if n.startswith("API_RATE_")):
        try:
            parse_rate(getattr(settings, name))
        except ValueError as error:
            errors.append(checks.Error(f"{name}: {error}", id="core.E001"))
    return errors


# --- Errors in the schema -----------------------------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, for a person.")
    code = serializers.CharField(help_text="The same, for a program: invalid, not_found, throttled, ...")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Messages per field at fault (the field of a form or multipart request).",
    )


_ERROR_TEXTS = {
    400: "Invalid input; `errors` names the fields.",
    401: "Not authenticated, or the token or API key is invalid, expired or revoked.",
    403: "Authenticated, but not allowed.",
    404: "Not found (another user's objects are not found either).",
    405: "Method not allowed.",
    409: "Conflict with the current state.",
    413: "Too large.",
    415: "Unsupported media type.",
    414: "The URL (its query string) is too long.",
    429: "Too many requests; the Retry-After header says when to try again.",
    503: "A service the API depends on (database, Redis) is unavailable; the Retry-After header says when to try again.",
}


def error_responses(*codes: int) -> dict:
    return {code: OpenApiResponse(ErrorSerializer, description=_ERROR_TEXTS[code]) for code in codes}


# --- One URL, one view per operation --------------------------------------------------------------

_HANDLERS = ("get", "post", "put", "patch", "delete")


def route(*operations: type[APIView]):
    """A URL whose methods are served by separate single-operation API views.

    Each view implements exactly one HTTP method with its own parsers, permissions and rate
    limits; the combined view takes the handler and those policies from the view of the
    request's method, so OpenAPI documents each operation from its own class.
    """
    by_method: dict[str, type[APIView]] = {}
    for operation in operations:
        methods = [m for m in _HANDLERS if hasattr(operation, m)]
        if len(methods) != 1:
            raise TypeError(f"{operation.__name__} must implement exactly one HTTP method, not {methods}")
        by_method[methods[0]] = operation
        handler = operation.__dict__.get(methods[0])
        if handler is not None and not handler.__doc__:
            handler.__doc__ = operation.__doc__  # OpenAPI describes each operation by its own view

    def operation_of(view):
        method = (view.request.method or "GET").lower() if getattr(view, "request", None) else "get"
        return by_method.get("get" if method == "head" else method, operations[0])

    namespace = {
        "__doc__": operations[0].__doc__,
        "__module__": operations[0].__module__,
        "get_parsers": lambda self: [p() for p in operation_of(self).parser_classes],
        "get_authenticators": lambda self: [a() for a in operation_of(self).authentication_classes],
        "get_permissions": lambda self: [p() for p in operation_of(self).permission_classes],
        "get_throttles": lambda self: [t() for t in operation_of(self).throttle_classes],
    }
    combined = type("".join(op.__name__ for op in operations), tuple(operations), namespace)
    return combined.as_view()


# --- Paginated lists from plain API views --------------------------------------------------------

#: the largest ?page accepted (18 digits; Pagination refuses longer numbers with a 400)
MAX_PAGE_NUMBER = 10**18 - 1

PAGE_PARAMETERS = [
    OpenApiParameter("page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_NUMBER}, description="Page number, from 1."),
    OpenApiParameter(
        "page_size", {"type": "integer", "minimum": 1, "maximum": Pagination.max_page_size},
        description=f"Items per page (default {Pagination.page_size}, at most {Pagination.max_page_size}).",
    ),
]


@functools.cache
def paginated(item_serializer: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The schema of a page of `item_serializer` items, as Pagination answers it."""
    name = item_serializer.__name__.removesuffix("Serializer")
    return type(
        f"Paginated{name}List",
        (serializers.Serializer,),
        {
            "__module__": item_serializer.__module__,
            "count": serializers.IntegerField(help_text="Items on all pages."),
            "next": serializers.URLField(allow_null=True, help_text="The next page, or null."),
            "previous": serializers.URLField(allow_null=True, help_text="The previous page, or null."),
            "results": item_serializer(many=True),
        },
    )


def paginated_response(request, view, queryset, item_serializer: type[serializers.Serializer], **context):
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(
        item_serializer(page, many=True, context={"request": request, **context}).data
    )
