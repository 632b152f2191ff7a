"""View helpers shared by the apps' HTML views, and the Swagger UI page."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.utils.http import url_has_allowed_host_and_scheme
from drf_spectacular.views import SpectacularSwaggerSplitView

STAFF_ONLY = "This page is for staff."


def safe_next(request) -> str:
    """The posted `next` when it is a path on this site, else "" (never an open redirect)."""
    candidate = request.POST.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()},
                                                     require_https=request.is_secure()):
        return candidate
    return ""


def staff_required(view=None, *, message: str = STAFF_ONLY, permission: str = ""):
    """Logged out: the login page. Logged in without the `permission` ("app.codename", given to
    the user or a group; superusers have all), or without staff rights when none is named: 403
    with `message`.

    Use as `@staff_required(permission="app.codename", message="...")`.
    """

    def decorate(view):
        @login_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            allowed = request.user.has_perm(permission) if permission else request.user.is_staff
            if not allowed:
                raise PermissionDenied(message)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate


class SwaggerUiView(SpectacularSwaggerSplitView):
    """The Swagger UI under the site's Content-Security-Policy: its start-up script is a second
    request (?script=) and its page styles a static file, so the page needs no inline code."""

    template_name = "api/swagger_ui.html"
