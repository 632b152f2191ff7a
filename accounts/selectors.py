"""Reads of the accounts app."""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import ApiKey


def api_keys_for(user) -> QuerySet[ApiKey]:
    """The user's API keys, newest first, revoked ones included (they show when they were revoked)."""
    return ApiKey.objects.filter(owner=user).order_by("-created_at", "-id")


def api_key_for(user, prefix: str) -> ApiKey:
    """One of the user's keys by prefix; anybody else's is a 404."""
    return get_object_or_404(ApiKey, owner=user, prefix=prefix)


def sign_in_sessions_for(user):
    """The user's browser sessions that still exist, newest first."""
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from accounts.models import SignInSession

    live = Session.objects.filter(expire_date__gt=timezone.now()).values("session_key")
    return SignInSession.objects.filter(user=user, session_key__in=live).order_by("-created_at", "-id")


def refresh_tokens_for(user):
    """The user's refresh tokens (apps signed in through the API) not yet expired nor revoked."""
    from django.utils import timezone
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    return (OutstandingToken.objects.filter(user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True)
            .order_by("-created_at", "-id"))
