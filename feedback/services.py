"""Every write of the review and feedback app: review decisions, ratings, reviewer settings,
calibrations, fine-tuning runs and model activation."""

import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from captions.caption_request import CaptionRequest
from captions.models import Caption, Image
from captions.selectors import captioning_defaults
from captions.services.alttext import image_recaption_queue, recaption_params
from captions.services.bulk import BULK_LIMIT
from captions.services.defaults import captioning_defaults_set
from captions.services.editing import (
    caption_approve_mark,
    caption_human_set,
    caption_text_unchanged,
    captions_review_clear,
)
from core.tasks import enqueue
from feedback import metrics
from feedback.models import (
    ConfidenceCalibration,
    Feedback,
    ModelActivation,
    ReviewAction,
    ReviewerSettings,
    TrainingRun,
)
from feedback.selectors import corrections_since
from feedback.shortcuts import DEFAULT_KEYS, shortcut_keys_check

logger = logging.getLogger(__name__)

MAX_CAPTION_LENGTH = Feedback.MAX_CORRECTION_LENGTH


def caption_text_clean(text, *, field: str = "text") -> str:
    """A caption a person wrote: 1 to 300 characters once trimmed, not only whitespace."""
    if not isinstance(text, str):
        raise ValidationError({field: ["Write the caption as text."]})
    cleaned = " ".join(text.split())
    if not cleaned:
        raise ValidationError({field: ["The caption cannot be empty or only whitespace."]})
    if len(cleaned) > MAX_CAPTION_LENGTH:
        raise ValidationError(
            {field: [f"The caption is {len(cleaned)} characters long; at most {MAX_CAPTION_LENGTH} are allowed."]}
        )
    return cleaned


# --- Review decisions ---------------------------------------------------------------------------------


def _current_image_locked(caption: Caption) -> Image:
    """The caption's image, locked for this transaction; refuses a decision on a caption that
    someone else replaced in the meantime (two reviewers on one image)."""
    image = Image.objects.select_for_update().get(pk=caption.image_id)
    if image.current_caption_id != caption.pk:
        raise ValidationError(
            "This caption is no longer the image's current caption (someone changed it meanwhile). "
            "Reload to see the latest one."
        )
    return image


def _action_record(*, caption: Caption, reviewer, action: str, text_after: str = "", result_caption=None, details=None):
    return ReviewAction.objects.create(
        image_id=caption.image_id,
        caption=caption,
        result_caption=result_caption,
        reviewer=reviewer,
        action=action,
        text_before=caption.text,
        text_after=text_after,
        confidence=caption.confidence,
        model_id=caption.model_id,
        details=details or {},
    )


def caption_approve(*, caption: Caption, reviewer) -> ReviewAction:
    """The caption is right as it is: it leaves the queue and counts as a good example."""
    with transaction.atomic():
        _current_image_locked(caption)
        caption_approve_mark(caption=caption)
        return _action_record(caption=caption, reviewer=reviewer, action=ReviewAction.Kind.APPROVE, text_after=caption.text)


def _human_caption_replace(*, caption: Caption, reviewer, text: str, action: str, details: dict,
                           extended_description: str | None = None) -> Caption:
    """The new current caption; for an edit, `caption` itself (nothing written, no review action)
    when `text` (and the extended description, when given) is what it already says: saving an
    unchanged caption is a no-op."""
    with transaction.atomic():
        image = _current_image_locked(caption)
        if (action == ReviewAction.Kind.EDIT and caption_text_unchanged(current=caption, text=text)
                and extended_description in (None, caption.extended_description)):
            return caption
        human = caption_human_set(
            image=image, text=text, created_by=reviewer, based_on=caption, keep_model=action == ReviewAction.Kind.PICK,
            extended_description=extended_description,
        )
        _action_record(
            caption=caption, reviewer=reviewer, action=action, text_after=text, result_caption=human, details=details
        )
    return human


def caption_edit(*, caption: Caption, reviewer, text: str, extended_description: str | None = None) -> Caption:
    """A person's caption replaces the current one; the model's caption stays in the history.
    The same text again changes nothing and returns `caption` (the caller says "No change").
    `extended_description` (a complex image's long description; None: kept) is edited with it."""
    cleaned = caption_text_clean(text)
    return _human_caption_replace(caption=caption, reviewer=reviewer, text=cleaned, action=ReviewAction.Kind.EDIT,
                                  details={}, extended_description=extended_description)


def caption_pick(*, caption: Caption, reviewer, index: int) -> Caption:
    """One of the model's alternatives (by its position in caption.candidates) becomes the caption."""
    candidates = caption.candidates or []
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(candidates):
        raise ValidationError({"index": [f"Choose one of the {len(candidates)} alternatives."]})
    text = caption_text_clean(str(candidates[index].get("text") or ""), field="index")
    return _human_caption_replace(
        caption=caption,
        reviewer=reviewer,
        text=text,
        action=ReviewAction.Kind.PICK,
        details={"index": index, "score": candidates[index].get("score")},
    )


def _model_id_of(spec: str) -> str | None:
    import mlcore

    try:
        return mlcore.resolve_spec(spec).model_id
    except mlcore.MLCoreError:
        return None


def image_recaption(
    *, caption: Caption, reviewer, request: CaptionRequest, reject: bool, replace_human: bool = False
) -> ReviewAction:
    """Queue the image for a new caption as `request` asks: other generation parameters or another
    model (checked where it entered: captions.caption_request.caption_request_check; its model
    "" = the active one). The image keeps its own purpose and context unless the request names them.

    The worker picks it up as it does an upload (status queued, a fresh attempt budget, a wake-up
    message once committed); until it finishes, the current caption stays. With `reject` the judged
    caption also counts as wrong for calibration.
    """
    active_spec = captioning_defaults().model_spec
    spec = request.model_spec or active_spec
    clean_params = recaption_params(image=caption.image, clean=request.params_dict(), given=set(request.named))
    if clean_params == caption.params and _model_id_of(spec) == caption.model_id:
        raise ValidationError(
            "These are the settings that made this caption, so they would give the same caption again. "
            "Change a generation setting or choose another model."
        )
    stored_spec = "" if spec == active_spec else spec
    with transaction.atomic():
        image = _current_image_locked(caption)
        if image.status != Image.Status.DONE:
            raise ValidationError("This image is already waiting for a new caption.")
        image_recaption_queue(image=image, from_status=Image.Status.DONE, params=clean_params,
                              model_spec=stored_spec, replace_human=replace_human)
        captions_review_clear(caption_ids=[caption.pk])
        action = _action_record(
            caption=caption,
            reviewer=reviewer,
            action=ReviewAction.Kind.REJECT if reject else ReviewAction.Kind.RECAPTION,
            details={"params": clean_params, "model": spec},
        )
    return action


# --- Feedback and settings ----------------------------------------------------------------------------


def feedback_save(*, user, caption: Caption, rating, corrected_caption: str | None = "") -> tuple[Feedback, bool]:
    """Create or replace the user's one feedback on this caption. Returns (feedback, created).
    corrected_caption None (left out) keeps an earlier correction; "" removes it."""
    errors = {}
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        errors["rating"] = ["Give a rating from 1 to 5 stars."]
    correction = ""
    if corrected_caption not in (None, ""):
        try:
            correction = caption_text_clean(corrected_caption, field="corrected_caption")
        except ValidationError as error:
            errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)
    defaults = {"rating": rating}
    if corrected_caption is not None:
        defaults["corrected_caption"] = correction
    with transaction.atomic():
        saved = Feedback.objects.update_or_create(
            user=user, caption=caption, defaults=defaults, create_defaults={"rating": rating, "corrected_caption": correction}
        )
    metrics.observe_rating(rating)
    return saved


def caption_feedback_submit(*, user, caption: Caption, rating, corrected_caption: str | None = "") -> tuple[Feedback, bool]:
    """Save the user's rating (and correction) of a caption, as feedback_save does; when the user
    owns the image and the caption is its current one, a correction that differs from it also
    becomes the image's caption (captions.services.editing.caption_human_set through caption_edit:
    source human, the model's caption kept in the history, an "edit" review action), so it is
    the alt text everywhere from then on. Another reviewer's correction stays feedback only.
    Both writes are one transaction. Returns (feedback, replaced)."""
    with transaction.atomic():
        feedback, _ = feedback_save(user=user, caption=caption, rating=rating, corrected_caption=corrected_caption)
        correction = feedback.corrected_caption
        image = caption.image
        replaced = bool(
            correction and image.owner_id == user.pk and correction != caption.text
            and Image.objects.filter(pk=image.pk, current_caption_id=caption.pk).exists()
        )
        if replaced:
            caption_edit(caption=caption, reviewer=user, text=correction)
    return feedback, replaced


def captions_bulk_approve(*, reviewer, captions) -> int:
    """Approve every caption of `captions` (a QuerySet the caller has limited to what the reviewer
    may review, e.g. feedback.selectors.bulk_approvable_captions_for): each leaves the queue with
    an "approve" review action, all in one transaction; a caption that is no longer its image's
    current one is skipped. At most captions.services.bulk.BULK_LIMIT captions (ValidationError
    before any change, as for none). Returns how many were approved."""
    count = captions.count()
    if count == 0:
        raise ValidationError("Select at least one caption that needs review.")
    if count > BULK_LIMIT:
        raise ValidationError(f"{count} captions are selected; at most {BULK_LIMIT} can be approved at once.")
    approved = 0
    with transaction.atomic():
        for caption in captions.select_related("image").order_by("id"):
            try:
                caption_approve(caption=caption, reviewer=reviewer)
            except ValidationError:
                continue  # replaced meanwhile: nothing to approve
            approved += 1
    return approved


def reviewer_settings_update(*, user, review_threshold: float | None) -> ReviewerSettings:
    if review_threshold is not None and not 0.0 <= review_threshold <= 1.0:
        raise ValidationError({"review_threshold": ["The threshold is a confidence between 0 and 1."]})
    reviewer_settings, _ = ReviewerSettings.objects.update_or_create(
        user=user, defaults={"review_threshold": review_threshold}
    )
    return reviewer_settings


def reviewer_shortcuts_update(*, user, enabled: bool, keys: dict[str, str]) -> ReviewerSettings:
    """Turn the review queue's single-key shortcuts on or off and set their keys (all actions)."""
    keys = {action: key.lower() for action, key in keys.items()}
    errors = shortcut_keys_check(keys)
    if errors:
        raise ValidationError(errors)
    stored = {action: key for action, key in keys.items() if DEFAULT_KEYS[action] != key}
    reviewer_settings, _ = ReviewerSettings.objects.update_or_create(
        user=user, defaults={"shortcuts_enabled": enabled, "shortcut_keys": stored}
    )
    return reviewer_settings


# --- Calibration --------------------------------------------------------------------------------------


def confidence_calibration_record(*, report, apply: bool) -> ConfidenceCalibration:
    """Keep a calibration report; an applied one becomes the site's review threshold."""
    if apply and report.threshold is None:
        raise ValidationError(
            f"No threshold reaches a precision of {report.target_precision:.2f}, so there is none to apply."
        )
    with transaction.atomic():
        calibration = ConfidenceCalibration.objects.create(
            n=report.n,
            n_good=report.n_good,
            auroc=report.auroc,
            target_precision=report.target_precision,
            threshold=report.threshold,
            precision=report.precision,
            recall=report.recall,
            coverage=report.coverage,
            applied=apply,
        )
        if apply:
            captioning_defaults_set(
                review_threshold=report.threshold, reason=f"Applied confidence calibration {calibration.pk}"
            )
    return calibration


# --- Models -------------------------------------------------------------------------------------------


def model_activate(*, training_run: TrainingRun | None, user) -> ModelActivation:
    """Make a finished run's model the one the workers use (None: back to CAPTION_MODEL).

    Workers read the newest activation before each batch, so no restart is needed; older
    activations stay listed for rollback.
    """
    if training_run is not None and (training_run.status != TrainingRun.Status.SUCCEEDED or not training_run.output_dir):
        raise ValidationError("Only a finished training run that produced a model can be activated.")
    spec = training_run.output_dir if training_run else ""
    with transaction.atomic():
        activation = ModelActivation.objects.create(training_run=training_run, model_spec=spec, activated_by=user)
        captioning_defaults_set(
            model_spec=spec,
            changed_by=user,
            reason=f"Activated training run {training_run.pk}" if training_run else "Back to CAPTION_MODEL",
        )
    return activation


def training_run_create(*, base_model: str, output_dir: str, epochs: int, created_by=None, enqueue: bool, **params) -> TrainingRun:
    """Record a fine-tuning run; with `enqueue`, a worker runs it once this transaction commits."""
    if not base_model.strip():
        raise ValidationError({"base_model": ["Name the model to fine-tune."]})
    if not output_dir.strip():
        raise ValidationError({"output_dir": ["Name the folder the new model is written to."]})
    if isinstance(epochs, bool) or not isinstance(epochs, int) or not 1 <= epochs <= 100:
        raise ValidationError({"epochs": ["Epochs must be a whole number from 1 to 100."]})
    with transaction.atomic():
        run = TrainingRun.objects.create(
            base_model=base_model.strip(),
            output_dir=output_dir.strip(),
            params={"epochs": epochs, **params},
            created_by=created_by,
        )
        if enqueue:
            transaction.on_commit(lambda: _finetune_enqueue(run.pk))
    return run


def _finetune_enqueue(run_id: int) -> None:
    # by its path: the task module imports these services
    enqueue("feedback.tasks.finetune_run", run_id, task_name=f"finetune-{run_id}")


def training_run_execute(*, run: TrainingRun) -> TrainingRun:
    """Fine-tune `run.base_model` on the feedback export and record losses and metrics.

    Runs in a worker (or the finetune command), never in the web process. Idempotent: a run
    that is not queued is left alone, so a re-delivered task does nothing.
    """
    from feedback import training

    claimed = TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.QUEUED).update(
        status=TrainingRun.Status.RUNNING, started_at=timezone.now()
    )
    run.refresh_from_db()
    if not claimed:
        return run
    try:
        outcome = training.finetune(run=run)
    except Exception as error:
        logger.exception("Fine-tuning run %s failed", run.pk)
        TrainingRun.objects.filter(pk=run.pk).update(
            status=TrainingRun.Status.FAILED, error=f"{type(error).__name__}: {error}", finished_at=timezone.now()
        )
    else:
        TrainingRun.objects.filter(pk=run.pk).update(
            status=TrainingRun.Status.SUCCEEDED,
            train_size=outcome.train_size,
            val_size=outcome.val_size,
            losses=outcome.losses,
            metrics_before=outcome.metrics_before,
            metrics_after=outcome.metrics_after,
            model_id=outcome.model_id,
            log=outcome.log,
            finished_at=timezone.now(),
        )
    run.refresh_from_db()
    return run


def training_run_start_if_due() -> TrainingRun | None:
    """Start a run once FINETUNE_MIN_NEW_FEEDBACK corrections arrived since the last one."""
    last = TrainingRun.objects.exclude(status=TrainingRun.Status.FAILED).order_by("-created_at").first()
    if last and last.status in (TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING):
        return None
    if corrections_since(last.created_at if last else None) < settings.FINETUNE_MIN_NEW_FEEDBACK:
        return None
    base = settings.FINETUNE_BASE_MODEL or captioning_defaults().model_spec
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    return training_run_create(
        base_model=base,
        output_dir=str(settings.FINETUNE_OUTPUT_DIR / f"finetuned-{stamp}"),
        epochs=settings.FINETUNE_EPOCHS,
        enqueue=True,
    )
