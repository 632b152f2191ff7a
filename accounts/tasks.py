"""django-q2 entry points of the accounts app."""

from django.core.management import call_command


def flush_expired_tokens() -> None:
    """Scheduled daily: drop expired refresh tokens (and their blacklist entries)."""
    call_command("flushexpiredtokens")
