"""How many images one user may queue: every way in (the upload form, the gallery's bulk retry and
re-caption, the review queue's re-caption) takes its images from one per-user budget,
QUEUE_RATE_FILES, counted in files, not requests (core.throttle: shared by every process through
the cache)."""

import math

from django.conf import settings
from django.core.exceptions import ValidationError

from core import throttle

SCOPE = "queued-files"


class QueueLimitReached(ValidationError):
    """More images than the user's budget allows right now; `wait` seconds until it renews."""

    def __init__(self, wanted: int, wait: int):
        minutes = max(1, math.ceil(wait / 60))
        super().__init__(
            f"You have queued as many images as allowed for now ({settings.QUEUE_RATE_FILES}); "
            f"{wanted} more can be queued in {minutes} minute{'s' if minutes != 1 else ''}.", code="throttled")
        self.wait = wait


def queue_files_take(*, owner, count: int) -> None:
    """Take `count` images from `owner`'s budget, or raise QueueLimitReached (nothing taken)."""
    if count <= 0:
        return
    wait = throttle.hit(SCOPE, str(owner.pk), settings.QUEUE_RATE_FILES, amount=count)
    if wait:
        raise QueueLimitReached(count, wait)
