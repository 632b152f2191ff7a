"""The anonymous demo's writes: its system owner, and discarding and purging its uploads."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from captions.models import Image
from captions.services.queue import image_delete


def demo_owner_get():
    """The system account that owns anonymous demo uploads; it cannot sign in."""
    from accounts.services import demo_owner_ensure

    return demo_owner_ensure()


def demo_image_discard(*, image: Image) -> bool:
    """Delete a demo upload once its caption was handed out (only a final one: a worker may
    still hold an unfinished one)."""
    if image.owner.email != settings.DEMO_USER_EMAIL.lower() or image.status not in Image.FINAL_STATUSES:
        return False
    image_delete(image=image)
    return True


def demo_images_purge(*, older_than_minutes: int | None = None) -> int:
    """Delete demo uploads older than DEMO_RETENTION_MINUTES (run on a schedule), except those a
    worker is captioning right now: they go on the next run."""
    minutes = settings.DEMO_RETENTION_MINUTES if older_than_minutes is None else older_than_minutes
    cutoff = timezone.now() - timedelta(minutes=minutes)
    stale = Image.objects.filter(
        owner__email=settings.DEMO_USER_EMAIL.lower(), created_at__lt=cutoff
    ).exclude(status=Image.Status.PROCESSING)
    count = 0
    for image in stale.iterator():
        image_delete(image=image)
        count += 1
    return count
