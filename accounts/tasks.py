"""django-q2 entry points of the accounts app."""

from django.core.management import call_command

from core.tasks import DAILY, ScheduleSpec


def flush_expired_tokens() -> None:
    """Scheduled daily: drop expired refresh tokens (and their blacklist entries)."""
    call_command("flushexpiredtokens")


SCHEDULES = [ScheduleSpec("accounts: flush expired JWTs", flush_expired_tokens, DAILY)]
