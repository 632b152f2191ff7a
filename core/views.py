"""View helpers shared by the apps' HTML views."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

STAFF_ONLY = "This page is for staff."


def staff_required(view=None, *, message: str = STAFF_ONLY):
    """Logged out: the login page. Logged in without staff rights: 403 with `message`.

    Use as `@staff_required` or `@staff_required(message="...")`.
    """

    def decorate(view):
        @login_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_staff:
                raise PermissionDenied(message)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate


def local_redirect_target(request, candidate: str | None, fallback: str) -> str:
    """`candidate` when it is a URL of this site (a path, or this host over this scheme);
    `fallback` otherwise. Every `next`-style redirect parameter goes through this, so a crafted
    link cannot send a user elsewhere (https://evil.example, //evil.example, /\\evil.example,
    javascript:...). Django's url_has_allowed_host_and_scheme is the test."""
    from django.utils.http import url_has_allowed_host_and_scheme

    candidate = (candidate or "").strip()
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return fallback
