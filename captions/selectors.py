"""Reads of the captions app."""

import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Count, QuerySet
from django.shortcuts import get_object_or_404

from captions.models import Batch, Caption, CaptioningDefaults, Image

# --- Which model and which review threshold caption now ---------------------------------------------


@dataclass(frozen=True)
class CaptioningDefaultsNow:
    """model_spec: what workers load (a registry name, folder or hub id); review_threshold: a
    confidence in [0, 1], below which a caption needs review. Each `*_source` is "settings"
    (CAPTION_MODEL / CAPTION_REVIEW_THRESHOLD) or "set" (captioning_defaults_set, e.g. a model
    activation or an applied calibration; `reason` and `changed_at` say which and when)."""

    model_spec: str
    review_threshold: float
    model_source: str
    threshold_source: str
    reason: str = ""
    changed_at: datetime | None = None


def captioning_defaults() -> CaptioningDefaultsNow:
    """Which model and which review threshold caption now: the newest CaptioningDefaults row,
    each value falling back to its setting. One indexed query; workers call it for every batch,
    so a change needs no restart."""
    row = CaptioningDefaults.objects.order_by("-created_at", "-id").first()
    spec = row.model_spec if row else ""
    threshold = row.review_threshold if row else None
    return CaptioningDefaultsNow(
        model_spec=spec or settings.CAPTION_MODEL,
        review_threshold=settings.CAPTION_REVIEW_THRESHOLD if threshold is None else threshold,
        model_source="set" if spec else "settings",
        threshold_source="settings" if threshold is None else "set",
        reason=row.reason if row else "",
        changed_at=row.created_at if row else None,
    )


def caption_model_choices() -> list[str]:
    """Models a request may name (upload form, API `model`, re-caption): the active one first,
    CAPTION_MODEL, the specs of CAPTION_MODEL_CHOICES (openai:/fallback:/ensemble: specs, folders),
    then every name of mlcore's registry (VLMs and image-to-text models). Names only: whether a
    model's files are present is the worker's concern (a clear failure reason on the image)."""
    from mlcore.registry import REGISTRY, VLM_REGISTRY

    choices = [
        captioning_defaults().model_spec,
        settings.CAPTION_MODEL,
        *settings.CAPTION_MODEL_CHOICES,
        *VLM_REGISTRY,
        *sorted(REGISTRY),
    ]
    return list(dict.fromkeys(c for c in choices if c))


def gallery_images_for(user) -> QuerySet[Image]:
    """The user's images, newest first, with the caption shown under each."""
    return Image.objects.filter(owner=user).select_related("current_caption").order_by("-created_at", "-id")


def image_for(user, public_id) -> Image:
    """One of the user's images; anybody else's is a 404, never a 403 that confirms it exists."""
    return get_object_or_404(
        Image.objects.select_related("current_caption", "batch"), owner=user, public_id=public_id
    )


def caption_history_for(image: Image) -> QuerySet[Caption]:
    return image.captions.select_related("created_by").order_by("-created_at", "-id")


# --- The REST API's reads ---------------------------------------------------------------------------


def images_filtered_for(
    user,
    *,
    status: str | None = None,
    needs_review: bool | None = None,
    batch_id: int | None = None,
    created_after=None,
    created_before=None,
) -> QuerySet[Image]:
    """The user's images, newest first, narrowed by the filters that are given."""
    images = gallery_images_for(user)
    if status:
        images = images.filter(status=status)
    if needs_review is not None:
        images = images.filter(current_caption__needs_review=True) if needs_review else images.exclude(
            current_caption__needs_review=True
        )
    if batch_id is not None:
        images = images.filter(batch_id=batch_id)
    if created_after is not None:
        images = images.filter(created_at__gte=created_after)
    if created_before is not None:
        images = images.filter(created_at__lt=created_before)
    return images


def batch_for(user, batch_id: int) -> Batch:
    """One of the user's batches; anybody else's is a 404."""
    return get_object_or_404(Batch, owner=user, pk=batch_id)


def batch_progress(batch: Batch) -> dict:
    """How many of the batch's images are in each status, and how many captions need review."""
    counts = {status: 0 for status in Image.Status.values}
    for row in batch.images.order_by().values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    total = sum(counts.values())
    return {
        "total": total,
        "counts": counts,
        "finished": counts[Image.Status.QUEUED] + counts[Image.Status.PROCESSING] == 0,
        "needs_review": batch.images.filter(current_caption__needs_review=True).count(),
    }


def batch_export_rows(batch: Batch) -> list[dict]:
    """One row per image of the batch, in upload order: the alt-text export."""
    rows = []
    for image in batch.images.select_related("current_caption").order_by("created_at", "id"):
        caption = image.current_caption
        rows.append(
            {
                "id": str(image.public_id),
                "filename": image.original_filename,
                "status": image.status,
                "caption": caption.text if caption else "",
                "confidence": caption.confidence if caption else None,
                "style": caption.style if caption else (image.params or {}).get("style", "alt"),
                "language": caption.language if caption else (image.params or {}).get("language", "en"),
                "tags": list(caption.tags) if caption and caption.tags is not None else None,
            }
        )
    return rows


def image_wait_final(image: Image, *, timeout_seconds: float, poll_seconds: float = 0.1) -> Image | None:
    """The image once a worker has finished it, or as it stands when the time is up; None when
    it was deleted meanwhile. Reads the database only (the web process never captions)."""
    deadline = time.monotonic() + max(0.0, timeout_seconds)
    interval = poll_seconds
    while True:
        status = Image.objects.filter(pk=image.pk).values_list("status", flat=True).first()
        if status is None:
            return None
        remaining = deadline - time.monotonic()
        if status in Image.FINAL_STATUSES or remaining <= 0:
            break
        time.sleep(min(interval, remaining))
        interval = min(interval * 1.5, 1.0)
    return Image.objects.select_related("current_caption").filter(pk=image.pk).first()


def demo_image_for(public_id) -> Image:
    """A demo upload by its id (the id is the only key an anonymous caller has)."""
    return get_object_or_404(
        Image.objects.select_related("current_caption", "owner"),
        owner__email=settings.DEMO_USER_EMAIL.lower(),
        public_id=public_id,
    )


# --- The gallery's progress poll ------------------------------------------------------------------


def unfinished_work_for(user, *, since=None) -> dict:
    """{"total", "finished", "failed", "since"}: the user's images uploaded since `since` (a
    datetime; by default the start of the oldest upload that still has a queued or processing
    image), so "finished of total done" says how far the work under way has got. The gallery
    keeps the same `since` while it polls, so the total stays put as images finish. All zero and
    since None when nothing is under way and no `since` is given."""
    if since is None:
        oldest = (
            Image.objects.filter(owner=user).exclude(status__in=Image.FINAL_STATUSES)
            .select_related("batch").order_by("created_at").first()
        )
        if oldest is None:
            return {"total": 0, "finished": 0, "failed": 0, "since": None}
        since = oldest.batch.created_at if oldest.batch else oldest.created_at
    scope = Image.objects.filter(owner=user, created_at__gte=since)
    counts = {row["status"]: row["n"] for row in scope.order_by().values("status").annotate(n=Count("id"))}
    done, failed = counts.get(Image.Status.DONE, 0), counts.get(Image.Status.FAILED, 0)
    return {"total": sum(counts.values()), "finished": done + failed, "failed": failed, "since": since}


def images_by_public_id_for(user, public_ids) -> QuerySet[Image]:
    """The user's images among the given public ids (others' are silently absent)."""
    return gallery_images_for(user).filter(public_id__in=list(public_ids))
