"""Reads of the review and feedback app: who may review what, the queue, the active model."""

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from captions.models import Caption, Image
from captions.selectors import captioning_defaults
from core.params import ParamError, int_param
from feedback.models import (
    REVIEWERS_GROUP,
    Feedback,
    ModelActivation,
    ReviewAction,
    ReviewerSettings,
    TrainingRun,
)
from feedback.shortcuts import DEFAULT_KEYS, Shortcuts

MODEL_SOURCES = (Caption.Source.MODEL, Caption.Source.CACHE)


# --- Who reviews what -------------------------------------------------------------------------------


def user_reviews_everything(user) -> bool:
    """Members of the "reviewers" group and users given the review_all_images permission (a
    superuser has every permission) review every image; others, staff included, only their own."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.has_perm("feedback.review_all_images") or user.groups.filter(name=REVIEWERS_GROUP).exists()


def reviewable_images_for(user) -> QuerySet[Image]:
    # Anonymous demo uploads are deleted minutes after captioning: nothing to review there.
    images = Image.objects.exclude(owner__email=settings.DEMO_USER_EMAIL.lower())
    return images if user_reviews_everything(user) else images.filter(owner=user)


def reviewable_caption_for(user, caption_id) -> Caption:
    """A caption the user may judge or rate; anybody else's is a 404 that does not confirm it exists."""
    return get_object_or_404(
        Caption.objects.select_related("image", "image__current_caption"),
        pk=caption_id,
        image__in=reviewable_images_for(user),
    )


def reviewable_image_for(user, public_id) -> Image:
    return get_object_or_404(reviewable_images_for(user), public_id=public_id)


# --- Thresholds and the queue -----------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewThreshold:
    value: float
    source: str  # "user", "calibration" or "settings"


def review_shortcuts_for(user) -> Shortcuts:
    """The user's review shortcuts: on unless turned off; each action's own key or the default."""
    row = ReviewerSettings.objects.filter(user=user).values("shortcuts_enabled", "shortcut_keys").first()
    if row is None:
        return Shortcuts(True, dict(DEFAULT_KEYS))
    own = row["shortcut_keys"] if isinstance(row["shortcut_keys"], dict) else {}
    return Shortcuts(row["shortcuts_enabled"], {action: own.get(action) or key for action, key in DEFAULT_KEYS.items()})


def review_threshold_for(user) -> ReviewThreshold:
    own = ReviewerSettings.objects.filter(user=user).values_list("review_threshold", flat=True).first()
    if own is not None:
        return ReviewThreshold(own, "user")
    defaults = captioning_defaults()
    return ReviewThreshold(
        defaults.review_threshold, "settings" if defaults.threshold_source == "settings" else "calibration"
    )


def review_queue_for(user, *, batch_id: int | None = None, model_id: str = "") -> QuerySet[Caption]:
    """The current model captions of finished images that still need a human, least sure first.

    With the site's own threshold this is exactly the captions the worker marked needs_review;
    a personal threshold (or an applied calibration) replaces it, computed here from the confidence.
    A caption a reviewer has already decided on never comes back.
    """
    threshold = review_threshold_for(user)
    if threshold.source == "settings":
        unsure = Q(needs_review=True)
    else:
        unsure = Q(confidence__isnull=True) | Q(confidence__lt=threshold.value)
    queue = (
        Caption.objects.filter(
            image__current_caption=F("pk"),
            image__status=Image.Status.DONE,
            image__in=reviewable_images_for(user),
            source__in=MODEL_SOURCES,
        )
        .filter(unsure)
        .exclude(Exists(ReviewAction.objects.filter(caption=OuterRef("pk"))))
    )
    if batch_id is not None:
        queue = queue.filter(image__batch_id=batch_id)
    if model_id:
        queue = queue.filter(model_id=model_id)
    return queue.select_related("image", "image__batch", "image__owner").order_by(
        F("confidence").asc(nulls_first=True), "id"
    )


def review_filter_choices_for(user) -> dict:
    """The batches and models that occur in the user's unfiltered queue, for the filter menus."""
    queue = review_queue_for(user).order_by()
    batches = (
        queue.filter(image__batch__isnull=False)
        .values_list("image__batch_id", "image__batch__name")
        .distinct()
        .order_by("-image__batch_id")
    )
    models = queue.exclude(model_id="").values_list("model_id", flat=True).distinct().order_by("model_id")
    return {
        "batches": [(pk, name or f"Batch {pk}") for pk, name in batches],
        "models": list(models),
    }


# --- Feedback ---------------------------------------------------------------------------------------


def feedback_of(user, caption: Caption) -> Feedback | None:
    return Feedback.objects.filter(user=user, caption=caption).first()


def feedback_by_caption_for(user, caption_ids) -> dict[int, Feedback]:
    """The user's feedback on several captions at once (a gallery page), keyed by caption id."""
    return {f.caption_id: f for f in Feedback.objects.filter(user=user, caption_id__in=list(caption_ids))}


def feedback_list_for(user) -> QuerySet[Feedback]:
    return Feedback.objects.filter(user=user).select_related("caption", "caption__image").order_by("-updated_at", "-id")


# --- Models -----------------------------------------------------------------------------------------


def active_model_activation() -> ModelActivation | None:
    return ModelActivation.objects.select_related("training_run").first()


def training_runs() -> QuerySet[TrainingRun]:
    return TrainingRun.objects.select_related("created_by").order_by("-created_at", "-id")


def activatable_training_run(run_id) -> TrainingRun:
    try:
        pk = int_param(run_id, name="run")
    except ParamError:
        raise Http404("No such training run.") from None
    if pk is None:
        raise Http404("No such training run.")
    return get_object_or_404(TrainingRun, pk=pk, status=TrainingRun.Status.SUCCEEDED)


def corrections_since(moment) -> int:
    """Human corrections (edits, picked alternatives, corrected captions) newer than `moment`."""
    actions = ReviewAction.objects.filter(action__in=[ReviewAction.Kind.EDIT, ReviewAction.Kind.PICK])
    feedback = Feedback.objects.exclude(corrected_caption="")
    if moment is not None:
        actions = actions.filter(created_at__gt=moment)
        feedback = feedback.filter(updated_at__gt=moment)
    return actions.count() + feedback.count()


# --- Learning signals -------------------------------------------------------------------------------


def caption_alternatives(caption: Caption, limit: int = 5) -> list[dict]:
    """The model's other candidates, numbered for the 1-5 shortcuts; `index` is the position in
    caption.candidates that caption_pick takes."""
    alternatives = []
    for index, candidate in enumerate(caption.candidates or []):
        text = str(candidate.get("text") or "").strip()
        if text and text != caption.text and text not in {a["text"] for a in alternatives}:
            alternatives.append({"number": len(alternatives) + 1, "index": index, "text": text, "score": candidate.get("score")})
        if len(alternatives) == limit:
            break
    return alternatives


GOOD_RATINGS = (4, 5)
BAD_RATINGS = (1, 2)


def calibration_examples() -> list[tuple[float, bool]]:
    """(confidence, good) for every human judgment of a model caption: ratings 4-5 good and 1-2
    bad (3 says nothing), approval good, an edit, a pick or a rejection bad."""
    examples = []
    ratings = Feedback.objects.filter(
        caption__source__in=MODEL_SOURCES, caption__confidence__isnull=False, rating__in=GOOD_RATINGS + BAD_RATINGS
    ).values_list("caption__confidence", "rating")
    examples += [(confidence, rating in GOOD_RATINGS) for confidence, rating in ratings]
    decisions = ReviewAction.objects.filter(
        confidence__isnull=False, action__in=[ReviewAction.Kind.APPROVE, *ReviewAction.CORRECTING_KINDS]
    ).values_list("confidence", "action")
    examples += [(confidence, action == ReviewAction.Kind.APPROVE) for confidence, action in decisions]
    return examples


# --- The training data set --------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingExample:
    image_id: int
    sha256: str
    file: str  # the storage name
    path: str  # the local path when the storage has one, else the storage name
    width: int
    height: int
    caption: str
    source: str  # "human" (an edit, a picked alternative or a correction), "approved" or "rated"
    split: str  # "train" or "val"


# Best first: for each image only the captions of its best kind are used.
EXAMPLE_SOURCES = ("human", "approved", "rated")


def split_of(sha256: str, val_fraction: float) -> str:
    """Deterministic by image content: every caption of an image (and of its byte-identical
    copies) lands on the same side, on every run."""
    bucket = int(sha256[:8], 16) / 0x1_0000_0000
    return "val" if bucket < val_fraction else "train"


def training_examples(*, min_rating: int = 4, val_fraction: float = 0.2, image_ids=None) -> list[TrainingExample]:
    """One example per (image, caption) for the best captions of every judged image: human
    captions (edits, picked alternatives, corrected captions), else approved model captions, else
    captions rated at least `min_rating`."""
    from django.core.files.storage import default_storage

    found: dict[int, dict[str, list[str]]] = {}

    def add(image_id: int, kind: str, text: str) -> None:
        text = " ".join((text or "").split())
        if text:
            texts = found.setdefault(image_id, {}).setdefault(kind, [])
            if text not in texts:
                texts.append(text)

    scope = {"image_id__in": image_ids} if image_ids is not None else {}
    caption_scope = {"caption__image_id__in": image_ids} if image_ids is not None else {}
    for image_id, text in Caption.objects.filter(
        source=Caption.Source.HUMAN, image__current_caption=F("pk"), **scope
    ).values_list("image_id", "text"):
        add(image_id, "human", text)
    for image_id, text in Feedback.objects.exclude(corrected_caption="").filter(**caption_scope).values_list(
        "caption__image_id", "corrected_caption"
    ):
        add(image_id, "human", text)
    for image_id, text in ReviewAction.objects.filter(
        action=ReviewAction.Kind.APPROVE, caption__isnull=False, **scope
    ).values_list("image_id", "caption__text"):
        add(image_id, "approved", text)
    for image_id, text in Feedback.objects.filter(rating__gte=min_rating, **caption_scope).values_list(
        "caption__image_id", "caption__text"
    ):
        add(image_id, "rated", text)

    examples = []
    images = Image.objects.filter(pk__in=found).only("id", "sha256", "file", "width", "height").order_by("id")
    for image in images:
        kinds = found[image.pk]
        kind = next(k for k in EXAMPLE_SOURCES if k in kinds)
        try:
            path = default_storage.path(image.file.name)
        except NotImplementedError:
            path = image.file.name
        for text in kinds[kind]:
            examples.append(
                TrainingExample(
                    image_id=image.pk,
                    sha256=image.sha256,
                    file=image.file.name,
                    path=path,
                    width=image.width,
                    height=image.height,
                    caption=text,
                    source=kind,
                    split=split_of(image.sha256, val_fraction),
                )
            )
    return examples


def bulk_approvable_captions_for(user, *, images=None, caption_ids=None) -> QuerySet[Caption]:
    """What a bulk approve may approve: with `images` (a QuerySet of the user's own images, the
    gallery's selection), their current model captions that need review; with `caption_ids` (the
    review queue's selection), those of the user's review queue. Undecided captions only."""
    if images is not None:
        return Caption.objects.filter(
            pk__in=images.values("current_caption_id"), needs_review=True, source__in=MODEL_SOURCES
        ).exclude(Exists(ReviewAction.objects.filter(caption=OuterRef("pk"))))
    return review_queue_for(user).filter(pk__in=list(caption_ids or []))
