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
