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
