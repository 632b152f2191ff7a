"""Counters for rate limits (the API's, and the per-address sign-in limit): in the shared cache (Redis when REDIS_URL is
set, so every web process counts together), falling back to a counter in this process when the
cache is unreachable. A cache outage never fails a request: it logs a warning (at most once a
minute per process) and keeps limiting per process until the cache answers again.
"""

import hashlib
import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache

from core.exceptions import INFRASTRUCTURE_ERRORS

logger = logging.getLogger(__name__)

_local = LocMemCache("core-throttle-fallback", {"OPTIONS": {"MAX_ENTRIES": 10000}})
_warned_at = 0.0
_warn_lock = threading.Lock()


@dataclass(frozen=True)
class Count:
    """`count` events in the window that ends in `seconds_left` seconds (>= 1)."""

    count: int
    seconds_left: int


def warn_cache_down(error: BaseException, what: str) -> None:
    """One warning a minute per process while the shared cache is down."""
    global _warned_at
    with _warn_lock:
        now = time.monotonic()
        if now - _warned_at < 60:
            return
        _warned_at = now
    logger.warning("The cache is unreachable (%s: %s); %s counts in this process only until it answers.",
                   type(error).__name__, error, what)


def client_address(request) -> str:
    """The peer address, or the proxy's header named by RATELIMIT_IP_META_KEY ("" when absent):
    who the rate limits and the sign-in lockout count."""
    return str(request.META.get(settings.RATELIMIT_IP_META_KEY or "REMOTE_ADDR", "") or "")


def _key(scope: str, ident: str) -> str:
    digest = hashlib.sha256(ident.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"throttle:{scope}:{digest}"


def _count_in(backend, key: str, period: int, increment: bool) -> Count:
    now = time.time()
    # The window starts with the first event and lasts `period` seconds.
    until = backend.get(f"{key}:until")
    if until is None or until <= now:
        if not increment:
            return Count(0, period)
        until = now + period
        backend.set(f"{key}:until", until, period)
        backend.set(key, 0, period)
    seconds_left = max(1, int(until - now + 0.999))
    if increment:
        try:
            value = backend.incr(key)
        except ValueError:  # expired between the two calls
            backend.set(key, 1, seconds_left)
            value = 1
    else:
        value = backend.get(key) or 0
    return Count(int(value), seconds_left)


def count(scope: str, ident: str, *, period: int, increment: bool) -> Count:
    """Add one event (increment=True) or read the count for (scope, ident) in the current window."""
    key = _key(scope, ident)
    try:
        return _count_in(cache, key, period, increment)
    except INFRASTRUCTURE_ERRORS as error:
        warn_cache_down(error, scope)
        return _count_in(_local, key, period, increment)


def count_local(scope: str, ident: str, *, period: int) -> Count:
    """Add one event to this process's counter (the fallback while the shared cache is down)."""
    return _count_in(_local, _key(scope, ident), period, True)


def fallback_cache() -> LocMemCache:
    """This process's cache for counters while the shared cache is down (core.api.RateLimit)."""
    return _local


def clear_local() -> None:
    """Forget this process's fallback counts (tests; or once the shared cache is back)."""
    _local.clear()


_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def rate_parse(rate: str) -> tuple[int, int]:
    """"10/h" -> (10, 3600); "5/15m" -> (5, 900). ValueError for anything else."""
    number, _, period = str(rate).strip().partition("/")
    unit = period[-1:].lower()
    if unit not in _PERIODS:
        raise ValueError(f"A rate is N/s, N/m, N/h or N/d (optionally N/15m): got {rate!r}.")
    multiple = int(period[:-1] or 1)
    return int(number), multiple * _PERIODS[unit]


def hit(scope: str, ident: str, rate: str, *, amount: int = 1) -> int:
    """Take `amount` events for (scope, ident) from `rate`; 0 when they fit (and are counted),
    otherwise the seconds until the window ends (nothing is counted: the caller answers 429 with
    Retry-After). `amount` > 1 counts files, not requests."""
    limit, period = rate_parse(rate)
    used = count(scope, ident, period=period, increment=False)
    if used.count + max(1, amount) > limit:
        return used.seconds_left
    for _ in range(max(1, amount) - 1):
        count(scope, ident, period=period, increment=True)
    count(scope, ident, period=period, increment=True)
    return 0
