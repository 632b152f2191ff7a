"""Sign-in lockout for every password form (the sign-in page, the admin's, the JWT endpoint),
built on django-axes.

Failed attempts are counted per (account, client address): after LOGIN_FAILURES_PER_ACCOUNT
failures for one e-mail from one address, that pair is refused (even with the right password)
for a cool-off that doubles with each lockout of the pair within a day, starting at
LOGIN_LOCKOUT_MINUTES and capped at a day. Nobody can lock an account out from elsewhere: the
owner's own address keeps working, and a completed password reset clears every lock on the account.
Attempts and lockouts are kept in the database (django-axes' tables, shown in the admin, where
staff can also clear a lock), so every web process counts together on either database.

Wiring: `LockoutBackend` is the first of AUTHENTICATION_BACKENDS (django-axes refuses locked
attempts before any password is checked); the forms and the token endpoint read `locked_for`.
The settings AXES_* in captionsite/settings.py point here for the address, the account name and
the cool-off.
"""

import ipaddress
import math
from datetime import timedelta

from axes.backends import AxesStandaloneBackend
from axes.models import AccessAttempt, AccessFailureLog
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import PermissionDenied
from django.dispatch import receiver
from django.utils import timezone

from core import throttle
from core.throttle import client_address

MAX_COOL_OFF = timedelta(days=1)


def account_name(request, credentials: dict | None) -> str:
    """The e-mail typed, as stored (lower-case, no surrounding spaces): what a lock is keyed on."""
    credentials = credentials or {}
    value = credentials.get("username") or credentials.get("email") or ""
    return str(value).strip().lower()


def failure_limit(request, credentials) -> int:
    return max(1, settings.LOGIN_FAILURES_PER_ACCOUNT)


def client_ip(request) -> str | None:
    """The same client address as the API's rate limits (RATELIMIT_IP_META_KEY), as an IP address
    (the first of a comma-separated list a proxy header may hold); None when there is none (the
    attempt tables store addresses as IP addresses: PostgreSQL's inet refuses anything else)."""
    raw = client_address(request) or ""
    for part in (raw, raw.split(",")[0]):
        try:
            return str(ipaddress.ip_address(part.strip()))
        except ValueError:
            continue
    return None


def _lockouts_today(request) -> int:
    credentials = getattr(request, "axes_credentials", None)
    if request is None or credentials is None:
        return 0
    return AccessFailureLog.objects.filter(
        username=account_name(request, credentials), ip_address=client_ip(request), locked_out=True,
        attempt_time__gte=timezone.now() - timedelta(days=1),
    ).count()


def cool_off(request=None) -> timedelta:
    """LOGIN_LOCKOUT_MINUTES for the pair's first lockout of the day, twice that for the second, ..."""
    base = timedelta(minutes=max(1, settings.LOGIN_LOCKOUT_MINUTES))
    doublings = max(0, _lockouts_today(request) - 1)
    return min(base * (2 ** min(doublings, 16)), max(MAX_COOL_OFF, base))


ADDRESS_SCOPE = "login-address"


def _address_window() -> int:
    return max(60, int(settings.LOGIN_LOCKOUT_MINUTES * 60))


def address_failures(request, *, increment: bool) -> throttle.Count:
    """Failed sign-ins from this request's address, any account, in the current window: the
    guard against one address trying many accounts (LOGIN_FAILURES_PER_ADDRESS)."""
    return throttle.count(ADDRESS_SCOPE, client_ip(request) or "unknown", period=_address_window(), increment=increment)


class LockoutBackend(AxesStandaloneBackend):
    """django-axes' check (no password is checked here), then the per-address limit; a call
    without a request (a script, a management command) is not a sign-in attempt and passes on."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        request.axes_credentials = {"username": username, **kwargs}
        super().authenticate(request, username=username, password=password, **kwargs)
        used = address_failures(request, increment=False)
        if used.count >= settings.LOGIN_FAILURES_PER_ADDRESS:
            request.axes_locked_out = True  # refused, not counted again (as django-axes does)
            request.login_address_wait = used.seconds_left
            raise PermissionDenied("Too many failed sign-ins from this address.")
        return None


@receiver(user_login_failed, dispatch_uid="accounts.lockout.count_address_failure")
def count_address_failure(sender, credentials, request=None, **kwargs):
    if request is not None and not getattr(request, "axes_locked_out", False):
        address_failures(request, increment=True)


def locked_for(request) -> int:
    """Seconds until this request's (account, address) may try again, when its sign-in attempt was
    refused or started a lockout; 0 otherwise."""
    if request is None or not getattr(request, "axes_locked_out", False):
        return 0
    if getattr(request, "login_address_wait", 0):
        return request.login_address_wait
    username = account_name(request, getattr(request, "axes_credentials", None))
    attempt = (AccessAttempt.objects.filter(username=username, ip_address=client_ip(request))
               .order_by("-attempt_time").first())
    if attempt is None:
        return int(cool_off(request).total_seconds())
    until = attempt.attempt_time + cool_off(request)
    return max(1, math.ceil((until - timezone.now()).total_seconds()))


def lockout_message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return (f"Too many failed attempts from this address; try again in {minutes} "
            f"minute{'s' if minutes != 1 else ''}, or reset your password.")


def unlock_account(email: str) -> None:
    """Clear every lock on the account (after its owner proved it with a password reset)."""
    axes_reset(username=email.strip().lower())
