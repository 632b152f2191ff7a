"""Login throttling for every password form: the sign-in page, the admin's and the JWT endpoint.

Failed sign-ins are counted per account (the e-mail typed, whether or not it exists) and per
client address, in the shared cache (Redis when REDIS_URL is set, so every web process counts
together; per process while it is down, see core.throttle). Once either count reaches its limit
within LOGIN_LOCKOUT_MINUTES, every attempt for that account or from that address is refused,
even with the right password, until the window ends: "Too many failed attempts; try again in N
minutes." A successful sign-in clears the account's count.

Wiring: `LoginThrottleBackend` is the first of AUTHENTICATION_BACKENDS (it refuses locked attempts
before any password is checked: Django's authenticate() stops at its PermissionDenied), and the
`user_login_failed` / `user_logged_in` signals count. Forms read `locked_for(request)`.
"""

import math

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.exceptions import PermissionDenied
from django.dispatch import receiver

from core import throttle
from core.throttle import client_address

ACCOUNT_SCOPE = "login-account"
ADDRESS_SCOPE = "login-address"
_LOCKED_ATTR = "_login_locked_seconds"


def _period() -> int:
    return max(1, int(settings.LOGIN_LOCKOUT_MINUTES * 60))


def _account(credentials: dict) -> str:
    value = credentials.get("username") or credentials.get("email") or ""
    return str(value).strip().lower()


def lockout_seconds(request, account: str) -> int:
    """Seconds until this account or this request's address may try again; 0 when not locked."""
    period = _period()
    waits = []
    checks = ((ACCOUNT_SCOPE, account, settings.LOGIN_FAILURES_PER_ACCOUNT),
              (ADDRESS_SCOPE, client_address(request), settings.LOGIN_FAILURES_PER_ADDRESS))
    for scope, ident, limit in checks:
        if not ident:
            continue
        used = throttle.count(scope, ident, period=period, increment=False)
        if used.count >= limit:
            waits.append(used.seconds_left)
    return max(waits, default=0)


def locked_for(request) -> int:
    """Seconds of lockout that refused this request's last sign-in attempt (0: not refused)."""
    return getattr(request, _LOCKED_ATTR, 0) if request is not None else 0


def lockout_message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return f"Too many failed attempts; try again in {minutes} minute{'s' if minutes != 1 else ''}."


class LoginThrottleBackend(ModelBackend):
    """Checks no password; refuses (PermissionDenied) an attempt for a locked account or address,
    and otherwise passes it on to the next backend (ModelBackend). It loads users for sessions like
    ModelBackend does (a session that names it, e.g. from Client.force_login, keeps working)."""

    def authenticate(self, request, username=None, password=None, **credentials):
        if request is None:
            return None
        seconds = lockout_seconds(request, _account({"username": username, **credentials}))
        if seconds:
            setattr(request, _LOCKED_ATTR, seconds)
            raise PermissionDenied(lockout_message(seconds))
        return None


@receiver(user_login_failed, dispatch_uid="accounts.throttle.count_failure")
def count_failure(sender, credentials, request=None, **kwargs):
    if request is None or locked_for(request):
        return  # a refused attempt during a lockout does not extend it
    period = _period()
    account = _account(credentials)
    if account:
        throttle.count(ACCOUNT_SCOPE, account, period=period, increment=True)
    address = client_address(request)
    if address:
        throttle.count(ADDRESS_SCOPE, address, period=period, increment=True)


@receiver(user_logged_in, dispatch_uid="accounts.throttle.clear_account")
def clear_account(sender, request, user, **kwargs):
    throttle.reset(ACCOUNT_SCOPE, str(user.get_username()).strip().lower())
