"""Writes on many of a user's images at once (the gallery's and the review queue's selection):
retry the failed ones, re-caption with other settings or another model, delete. Each is one
transaction and refuses more than BULK_LIMIT images (a ValidationError, before any change).
Approving many captions is the feedback app's (feedback.services.captions_bulk_approve)."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet

from captions.caption_request import CaptionRequest
from captions.models import Image
from captions.selectors import captioning_defaults
from captions.services.media import media_files_delete
from captions.services.queue import image_requeue

BULK_LIMIT = 1000


def bulk_images_checked(images: QuerySet[Image], *, owner) -> list[Image]:
    """The images of `owner` among `images` (at most BULK_LIMIT, else ValidationError; none,
    ValidationError too), locked for the caller's transaction where the database can."""
    chosen = images.filter(owner=owner).order_by("id")
    count = chosen.count()
    if count == 0:
        raise ValidationError("Select at least one image.")
    if count > BULK_LIMIT:
        raise ValidationError(
            f"{count} images are selected; at most {BULK_LIMIT} can be changed at once. Narrow the search."
        )
    ids = list(chosen.values_list("id", flat=True))
    # A plain query to lock: the caller's queryset may join (outer) the current caption.
    return list(Image.objects.filter(pk__in=ids).order_by("id").select_for_update())


def images_bulk_retry(*, owner, images: QuerySet[Image]) -> int:
    """Queue every failed image of the selection again (fresh attempt budget). Returns how many
    were queued; the others (not failed) are left as they are."""
    with transaction.atomic():
        chosen = bulk_images_checked(images, owner=owner)
        return sum(image_requeue(image_id=i.pk, from_status=Image.Status.FAILED) for i in chosen if i.status == Image.Status.FAILED)


def images_bulk_recaption(*, owner, images: QuerySet[Image], request: CaptionRequest, replace_human: bool = False) -> int:
    """Queue every finished (done or failed) image of the selection for a new caption as `request`
    asks (checked where it entered: captions.caption_request.caption_request_check; its model ""
    = the active one). The current caption stays until the new one is written. Returns how many
    were queued; images still queued or processing are left alone. Each image keeps its own
    purpose and context unless the request names them; an image whose current text came from a
    person gets the new caption as a suggestion unless `replace_human` (confirmed by the caller)
    says to replace it (captions.services.alttext)."""
    from captions.services.alttext import image_recaption_queue, recaption_params

    active = captioning_defaults().model_spec
    spec = request.model_spec or active
    stored_spec = "" if spec == active else spec
    clean = request.params_dict()
    given = set(request.named)
    with transaction.atomic():
        chosen = bulk_images_checked(images, owner=owner)
        return sum(
            image_recaption_queue(
                image=i, from_status=i.status, params=recaption_params(image=i, clean=clean, given=given),
                model_spec=stored_spec, replace_human=replace_human,
            )
            for i in chosen if i.status in Image.FINAL_STATUSES
        )


def images_bulk_delete(*, owner, images: QuerySet[Image]) -> int:
    """Delete the selection: rows, captions (cascade) and, once committed, the files and
    thumbnails. Returns how many images were deleted."""
    with transaction.atomic():
        chosen = bulk_images_checked(images, owner=owner)
        paths = [p for i in chosen for p in (i.file.name, i.thumbnail.name) if p]
        Image.objects.filter(pk__in=[i.pk for i in chosen]).delete()
        transaction.on_commit(lambda: media_files_delete(paths))
    return len(chosen)


def images_delete_all_of(*, owner) -> int:
    """Delete every image of `owner` with its captions, files and thumbnails, and its batches
    (account deletion). No limit: it works through the images in chunks of BULK_LIMIT, each in
    its own transaction, files removed after each commit. Returns how many images went."""
    from captions.models import Batch

    total = 0
    while True:
        with transaction.atomic():
            chunk = list(Image.objects.filter(owner=owner).order_by("id")[:BULK_LIMIT])
            if not chunk:
                break
            paths = [p for i in chunk for p in (i.file.name, i.thumbnail.name) if p]
            Image.objects.filter(pk__in=[i.pk for i in chunk]).delete()
            transaction.on_commit(lambda paths=paths: media_files_delete(paths))
        total += len(chunk)
    Batch.objects.filter(owner=owner).delete()
    return total
