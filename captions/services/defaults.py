"""Setting which model and which review threshold caption now (read by
captions.selectors.captioning_defaults). Feedback's model activation and confidence
calibration call this; nothing else writes CaptioningDefaults."""

from django.core.exceptions import ValidationError
from django.db import transaction

from captions.models import CaptioningDefaults

KEEP = object()  # the value stays as it is


def captioning_defaults_set(
    *, model_spec=KEEP, review_threshold=KEEP, changed_by=None, reason: str = ""
) -> CaptioningDefaults:
    """Record a change of the captioning defaults; the workers use it from their next batch.

    model_spec: a registry name, folder or hub id; "" goes back to CAPTION_MODEL; KEEP (default)
    keeps it. review_threshold: a confidence in [0, 1]; None goes back to CAPTION_REVIEW_THRESHOLD;
    KEEP keeps it. Raises ValidationError naming the field for a value out of range.
    """
    errors = {}
    if model_spec is not KEEP:
        model_spec = (model_spec or "").strip()
        if len(model_spec) > CaptioningDefaults._meta.get_field("model_spec").max_length:
            errors["model_spec"] = ["The model name is too long."]
    if review_threshold is not KEEP and review_threshold is not None:
        try:
            review_threshold = float(review_threshold)
        except (TypeError, ValueError):
            errors["review_threshold"] = ["The threshold is a confidence between 0 and 1."]
        else:
            if not 0.0 <= review_threshold <= 1.0:
                errors["review_threshold"] = ["The threshold is a confidence between 0 and 1."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        current = CaptioningDefaults.objects.select_for_update().order_by("-created_at", "-id").first()
        return CaptioningDefaults.objects.create(
            model_spec=(current.model_spec if current else "") if model_spec is KEEP else model_spec,
            review_threshold=(current.review_threshold if current else None)
            if review_threshold is KEEP
            else review_threshold,
            changed_by=changed_by,
            reason=reason[:200],
        )
