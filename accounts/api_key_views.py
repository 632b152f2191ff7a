"""The "API keys" page: make a key (shown once), see when each was last used, revoke one."""

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts import selectors, services
from accounts.forms import ApiKeyForm
from core.forms import add_service_errors

NEW_KEY_SESSION = "accounts:new_api_key"


@login_required
def api_keys(request: HttpRequest) -> HttpResponse:
    """GET lists the keys. POST creates one and redirects (a reload never makes a second key); the
    new key is kept in the session for the one page view after the redirect, then forgotten."""
    form = ApiKeyForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            days = form.cleaned_data["expires_in_days"]
            try:
                _, new_key = services.api_key_create(
                    owner=request.user,
                    name=form.cleaned_data["name"],
                    expires_at=timezone.now() + timedelta(days=days) if days else None,
                    scopes=form.cleaned_data["scopes"] or None,
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                request.session[NEW_KEY_SESSION] = new_key
                return redirect("accounts:api_keys")
        status = 400
    new_key = request.session.pop(NEW_KEY_SESSION, None) if request.method == "GET" else None
    keys = list(selectors.api_keys_for(request.user))
    now = timezone.now()
    rows = [(key, key.state_at(now)) for key in keys]
    response = render(
        request,
        "accounts/api_keys.html",
        {"form": form, "rows": rows, "new_key": new_key, "api_docs_url": "/api/docs/"},
        status=status,
    )
    if new_key:
        response["Cache-Control"] = "no-store"  # the key must not stay in a cache either
    return response


@login_required
@require_POST
def api_key_revoke(request: HttpRequest, prefix: str) -> HttpResponse:
    api_key = services.api_key_revoke(api_key=selectors.api_key_for(request.user, prefix))
    messages.success(request, f"The key “{api_key.name}” ({api_key.prefix}…) was revoked.")
    return redirect("accounts:api_keys")
