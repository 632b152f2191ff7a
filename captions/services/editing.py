"""A person's caption for an image: the one way a caption written by someone (the owner's
correction, a reviewer's edit or picked alternative) becomes the image's alt text. Other apps
call this instead of writing Caption or Image rows."""

from django.db import transaction
from django.utils import timezone

from captions.models import Caption, Image
from captions.services.embeddings import image_embedding_refresh


def caption_human_set(
    *, image: Image, text: str, created_by, based_on: Caption | None = None, keep_model: bool = False,
    extended_description: str | None = None,
) -> Caption:
    """Record `text` (already cleaned by the caller) as a human caption of `image` and make it the
    current caption, the image's alt text from then on (gallery, detail page, Copy alt text,
    exports, API). The caption it replaces stays in the history and leaves the review queue
    (needs_review False). With keep_model (a picked alternative) the new row keeps `based_on`'s
    model id, version and parameters. Call inside the caller's transaction when it holds a lock.

    Saving the text the current caption already has is a no-op: no new history row; the current
    caption is returned as it is (``caption_text_unchanged`` tells the caller beforehand). A picked
    alternative (keep_model) is always recorded: it is the reviewer's choice of a model candidate."""
    from captions.services.alttext import caption_checks

    current = Caption.objects.filter(pk=image.current_caption_id).first() if image.current_caption_id else None
    if extended_description is None:  # kept from the caption it replaces
        extended_description = current.extended_description if current is not None else ""
    if (not keep_model and caption_text_unchanged(current=current, text=text)
            and extended_description == current.extended_description):
        return current
    # The person's text is in the language and style of the caption it corrects.
    shown = based_on or current
    with transaction.atomic():
        human = Caption.objects.create(
            style=shown.style if shown else "alt",
            language=shown.language if shown else "en",
            image=image,
            text=text,
            raw_text=text,
            source=Caption.Source.HUMAN,
            created_by=created_by,
            needs_review=False,
            extended_description=extended_description,
            checks=caption_checks(text=text, image=image),
            params=based_on.params if (keep_model and based_on) else {},
            model_id=based_on.model_id if (keep_model and based_on) else "",
            model_version=based_on.model_version if (keep_model and based_on) else "",
        )
        if based_on is not None:
            Caption.objects.filter(pk=based_on.pk).update(needs_review=False)
        Image.objects.filter(pk=image.pk).update(current_caption=human, updated_at=timezone.now())
        image.current_caption = human
    image_embedding_refresh(image_id=image.pk)
    return human


def caption_text_unchanged(*, current: Caption | None, text: str) -> bool:
    """Whether saving `text` over `current` changes nothing (same words, spacing aside)."""
    return current is not None and " ".join(current.text.split()) == " ".join(str(text).split())


def captions_review_clear(*, caption_ids) -> int:
    """These captions leave the review queue (needs_review False). Returns how many changed."""
    return Caption.objects.filter(pk__in=list(caption_ids), needs_review=True).update(needs_review=False)


def caption_approve_mark(*, caption: Caption) -> None:
    """A person approved `caption` as it is: it becomes human-approved (the top source priority,
    captions.services.alttext) and leaves the review queue."""
    now = timezone.now()
    Caption.objects.filter(pk=caption.pk).update(needs_review=False, approved_at=now)
    caption.needs_review, caption.approved_at = False, now


def caption_suggestion_use(*, image: Image, caption: Caption) -> Caption:
    """The owner chose a kept model suggestion (a caption of `image` that did not replace a
    person's text) as the alt text: it becomes current, approved by that choice."""
    if caption.image_id != image.pk:
        raise ValueError("The caption is not one of this image's.")
    with transaction.atomic():
        caption_approve_mark(caption=caption)
        Image.objects.filter(pk=image.pk).update(current_caption=caption, updated_at=timezone.now())
        image.current_caption = caption
    image_embedding_refresh(image_id=image.pk)
    return caption
