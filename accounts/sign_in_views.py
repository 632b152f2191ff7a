"""The "Sign-ins" page: the user's browser sessions and API sign-ins (refresh tokens), each with
an end button, and a button that ends every other one. API keys have their own page."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts import selectors, services


@login_required
def sign_ins(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/sign_ins.html", {
        "sessions": list(selectors.sign_in_sessions_for(request.user)),
        "tokens": list(selectors.refresh_tokens_for(request.user)),
        "current_key": request.session.session_key,
    })


@login_required
@require_POST
def session_end(request: HttpRequest, session_id: int) -> HttpResponse:
    if not services.sign_in_session_end(user=request.user, session_id=session_id):
        raise Http404("No such sign-in of yours.")
    messages.success(request, "That sign-in was ended.")
    return redirect("accounts:sign_ins")


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    if not services.refresh_token_revoke(user=request.user, token_id=token_id):
        raise Http404("No such sign-in of yours.")
    messages.success(request, "That app's sign-in was revoked.")
    return redirect("accounts:sign_ins")


@login_required
@require_POST
def end_all_others(request: HttpRequest) -> HttpResponse:
    current = request.session.session_key
    for record in selectors.sign_in_sessions_for(request.user).exclude(session_key=current):
        services.sign_in_session_end(user=request.user, session_id=record.pk)
    for token in selectors.refresh_tokens_for(request.user):
        services.refresh_token_revoke(user=request.user, token_id=token.pk)
    messages.success(request, "Every other sign-in was ended.")
    return redirect("accounts:sign_ins")
