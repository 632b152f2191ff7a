"""Alt text fit for its purpose, the writes (the readers are captions.alttext):

- where a caption's text came from (``caption_source``: human-approved, human-edited, file,
  model) and which text is the image's alt text (``SOURCE_PRIORITY``, ``caption_outranks``):
  human-approved > human-edited > file > model, never recency alone; a model caption for an image
  whose current text came from a person (or a file) is kept as a suggestion unless the re-caption
  asked explicitly to replace it (Image.replace_human);
- the image's purpose and context (stored in Image.params with the generation parameters, so
  they are part of the caption cache key) and their change (``image_alt_request_set``):
  decorative images are done at once with an empty alt text, no model call; changing the purpose
  back queues them;
- the quality checks of a caption (``caption_checks``: mlcore.alttext.check_alt_text) and which
  rules send a caption to review (ALT_CHECK_REVIEW_RULES).
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from captions.alttext import (
    image_purpose,
)
from captions.models import Image
from mlcore.alttext import DEFAULT_PURPOSE, RULES, check_alt_text
from mlcore.params import GenerationParams, InvalidParams


def alt_request_clean(*, purpose=None, context=None, action=None, base: dict | None = None) -> dict:
    """`base` (generation parameters as a dict) with purpose / context / action set where given,
    validated by mlcore (GenerationParams -> mlcore.alttext.check_alt_request). ValidationError
    naming the fields at fault."""
    raw = dict(base or {})
    for name, value in (("purpose", purpose), ("context", context), ("action", action)):
        if value is not None:
            raw[name] = value
    if raw.get("purpose") not in (None, "", "functional"):
        raw["action"] = ""  # a link's action means nothing for another purpose
    try:
        return GenerationParams.from_dict(raw).to_dict()
    except InvalidParams as error:
        raise ValidationError({field: [message] for field, message in error.errors.items()}) from None


def decorative_finish(*, image_id: int, claim_token: str | None = None) -> bool:
    """Finish a decorative image without a model call: done, its alt text empty by its purpose
    (its captions stay in the history, its current caption is kept for when the purpose changes).
    With `claim_token`, only while that claim holds the image (the worker's call)."""
    now = timezone.now()
    rows = Image.objects.filter(pk=image_id)
    if claim_token is not None:
        rows = rows.filter(claim_token=claim_token, status=Image.Status.PROCESSING)
    return bool(rows.update(
        status=Image.Status.DONE, error="", error_kind="", finished_at=now, claim_expires_at=None,
        claim_token="", replace_human=False, updated_at=now,
    ))


def image_alt_request_set(*, image: Image, purpose=None, context=None, action=None) -> str:
    """Change what `image` is for and where it appears. Decorative: done at once (no model call).
    Another purpose or context on a done or failed image: queued for a new caption with them (a
    person's current text is kept, the new caption offered as a suggestion). Returns what
    happened: "decorative", "queued", "saved" (stored; the image is still being captioned and
    gets a caption with the new settings at its next attempt) or "unchanged"."""
    from captions.services.queue import image_requeue

    with transaction.atomic():
        locked = Image.objects.select_for_update().get(pk=image.pk)
        params = alt_request_clean(purpose=purpose, context=context, action=action, base=locked.params)
        if params == GenerationParams.from_dict(locked.params or {}).to_dict():
            return "unchanged"
        Image.objects.filter(pk=locked.pk).update(params=params, updated_at=timezone.now())
        image.params = params
        if params["purpose"] == "decorative":
            decorative_finish(image_id=locked.pk)
            return "decorative"
        if locked.status in Image.FINAL_STATUSES:
            image_requeue(image_id=locked.pk, from_status=locked.status)
            return "queued"
        return "saved"


# --- quality checks ---------------------------------------------------------------------------


def caption_checks(*, text: str, image: Image, purpose: str | None = None) -> list[dict]:
    """mlcore.alttext.check_alt_text's findings for `text` as alt text of `image` (its file name
    and the text read from it included), as dicts."""
    from mlcore.ocr import SUBSTANTIAL_CONFIDENCE, SUBSTANTIAL_WORDS

    ocr_text = image.ocr_text or ""
    confident = (len(ocr_text.split()) >= SUBSTANTIAL_WORDS
                 and (image.ocr_confidence or 0.0) >= SUBSTANTIAL_CONFIDENCE)
    return [f.to_dict() for f in check_alt_text(
        text, purpose=purpose or image_purpose(image), filename=image.original_filename,
        ocr_text=ocr_text, ocr_confident=confident,
    )]


def review_rules() -> frozenset[str]:
    """The rules whose finding sends a caption to review (ALT_CHECK_REVIEW_RULES; unknown names
    are refused at start-up by the settings check)."""
    return frozenset(name for name in settings.ALT_CHECK_REVIEW_RULES if name in RULES)


def checks_need_review(checks: list[dict]) -> bool:
    rules = review_rules()
    return any(c.get("rule") in rules for c in checks)


# --- re-captions ------------------------------------------------------------------------------

ALT_REQUEST_FIELDS = ("purpose", "context", "action")


def recaption_params(*, image: Image, clean: dict, given) -> dict:
    """The parameters a re-caption of `image` uses: `clean` (validated), with the image's own
    purpose, context and action where the request did not name them (`given`: the field names
    the request set), so a re-caption with other settings keeps what the image is for."""
    own = GenerationParams.from_dict(image.params or {}).to_dict() if image.params else {}
    merged = dict(clean)
    for name in ALT_REQUEST_FIELDS:
        if name not in given and name in own:
            merged[name] = own[name]
    if merged.get("purpose") != "functional":
        merged["action"] = ""
    return merged


def image_recaption_queue(*, image: Image, from_status: str, params: dict, model_spec: str,
                          replace_human: bool = False) -> bool:
    """Queue `image` (in `from_status`) for a new caption with `params` and `model_spec`. The new
    caption replaces a person's (or a file's) current text only with `replace_human` (an
    explicit, confirmed request); otherwise it is kept as a suggestion. Purpose decorative: done
    at once, no model call. False when the image was not in `from_status`."""
    from captions.services.queue import image_requeue

    if params.get("purpose") == "decorative":
        updated = Image.objects.filter(pk=image.pk, status=from_status).update(params=params, model_spec=model_spec)
        return bool(updated) and decorative_finish(image_id=image.pk)
    return image_requeue(image_id=image.pk, from_status=from_status, params=params, model_spec=model_spec,
                         replace_human=bool(replace_human))


def replace_human_clean(replace_human, confirm) -> bool:
    """"Replace human text too" counts only when confirmed: ValidationError otherwise."""
    if replace_human and not confirm:
        raise ValidationError({"replace_human_confirm": [
            "Replacing text a person wrote or approved cannot be undone from here: confirm it, or leave "
            "\"replace human text too\" unticked to get the new caption as a suggestion."
        ]})
    return bool(replace_human)


# --- text in images (OCR) -----------------------------------------------------------------------

_ocr_missing_said = False


def ocr_wanted(params: dict) -> bool:
    """Whether to read the text of an image captioned with `params`: purpose text always; else
    the request's ocr (on/off) or the site's OCR_ENABLED; never for a decorative image."""
    purpose = params.get("purpose") or DEFAULT_PURPOSE
    if purpose == "decorative":
        return False
    if purpose == "text":
        return True
    asked = params.get("ocr") or ""
    return asked == "on" if asked else bool(settings.OCR_ENABLED)


def image_ocr_run(image: Image):
    """Read the text of `image` (worker side: bounded by OCR_TIMEOUT_SECONDS, its Tesseract process
    killed past it) and store it on the image; returns the mlcore OcrResult, or None when not
    wanted, not installed (said once per process in the log, and on the image) or failed."""
    global _ocr_missing_said
    import logging

    from captions import inference
    from captions.imaging import ImageRejected
    from mlcore.ocr import OcrFailed, OcrUnavailable, read_text

    if not ocr_wanted(image.params or {}):
        return None
    logger = logging.getLogger(__name__)
    try:
        # decoded as the worker decodes for models (under MAX_IMAGE_PIXELS, JPEGs at reduced scale,
        # big images in a child process), near the OCR size
        picture = inference.stored_image_load(image.file.name, target_size=2500)
        result = read_text(picture, languages=settings.OCR_LANGUAGES, timeout_s=settings.OCR_TIMEOUT_SECONDS,
                           command=settings.OCR_TESSERACT_CMD)
    except OcrUnavailable as error:
        if not _ocr_missing_said:
            logger.warning("OCR is off: %s. Images are captioned without reading their text.", error)
            _ocr_missing_said = True
        Image.objects.filter(pk=image.pk).update(ocr_status="unavailable", ocr_error=str(error)[:300])
        return None
    except (OcrFailed, ImageRejected, OSError, ValueError) as error:
        logger.warning("OCR of image %s failed: %s", image.pk, error)
        Image.objects.filter(pk=image.pk).update(ocr_status="failed", ocr_error=str(error)[:300])
        return None
    Image.objects.filter(pk=image.pk).update(
        ocr_status="done", ocr_text=result.text, ocr_confidence=result.confidence, ocr_language=result.language,
        ocr_error="",
    )
    image.ocr_text, image.ocr_confidence, image.ocr_language = result.text, result.confidence, result.language
    return result


def alt_with_ocr(*, text: str, description: str, params: dict, ocr) -> tuple[str, str]:
    """The alt text and extended description once the read text is in: for purpose text, or
    substantial confident text (mlcore.ocr.OcrResult.substantial), the text quoted in the alt
    text, the rest in the extended description (mlcore.ocr.alt_text_with_ocr)."""
    from mlcore.alttext import IPTC_MAX_CHARS
    from mlcore.ocr import alt_text_with_ocr

    purpose = params.get("purpose") or DEFAULT_PURPOSE
    if ocr is None or not ocr.text or not (purpose == "text" or ocr.substantial):
        return text, description
    alt, rest = alt_text_with_ocr(text, ocr.text, purpose=purpose, limit=IPTC_MAX_CHARS)
    return alt, "\n\n".join(part for part in (description, rest) if part)
