"""The worker's cycle: claim queued images, caption them in batches (reusing cached captions),
record the results. The worker heartbeat is monitoring's (monitoring.services)."""

import hashlib
import logging
import time

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from captions.models import Caption, Image
from captions.selectors import captioning_defaults
from captions.services.queue import image_attempt_failed, images_claim, worker_identity
from captions.services.results import WorkerRunSummary
from core import metrics
from mlcore.params import GenerationParams, InvalidParams

logger = logging.getLogger(__name__)


def caption_pending_run(*, worker_id: str | None = None, max_batches: int | None = None) -> WorkerRunSummary:
    """Claim and caption queued images batch after batch until none is left (or max_batches)."""
    worker_id = worker_id or worker_identity()
    summary = WorkerRunSummary()
    batches = 0
    while max_batches is None or batches < max_batches:
        started = time.perf_counter()
        token, images = images_claim(worker_id=worker_id, limit=settings.CAPTION_BATCH_SIZE)
        summary += WorkerRunSummary(timings_ms={"claim_ms": (time.perf_counter() - started) * 1000})
        if not images:
            break
        batches += 1
        summary += images_caption(images=images, claim_token=token)
    return summary


def images_caption(*, images: list[Image], claim_token: str) -> WorkerRunSummary:
    """Caption claimed images: reuse cached captions, one batched model call per (model, params)."""
    from captions import inference

    summary = WorkerRunSummary()
    # Read once per batch, so activating a fine-tuned model or a calibrated threshold takes
    # effect from the next batch without restarting the workers.
    defaults = captioning_defaults()
    default_spec = defaults.model_spec
    review_threshold = defaults.review_threshold
    groups: dict[tuple[str, GenerationParams], list[Image]] = {}
    for image in images:
        try:
            params = GenerationParams.from_dict(image.params)
        except InvalidParams as error:
            summary += image_attempt_failed(
                image=image, claim_token=claim_token, reason=f"Invalid generation parameters: {error}", permanent=True
            )
            continue
        groups.setdefault((image.model_spec or default_spec, params), []).append(image)

    for (spec, params), group in groups.items():
        try:
            captioner = inference.captioner_for(spec)
        except inference.ModelUnavailable as error:
            for image in group:
                summary += image_attempt_failed(image=image, claim_token=claim_token, reason=str(error), permanent=True)
            continue

        # Same bytes + same model + same params: caption once, reuse for the rest, including
        # duplicates inside this very batch.
        to_compute: dict[str, list[Image]] = {}
        for image in group:
            key = caption_cache_key(image=image, captioner=captioner, params=params)
            cached = Caption.objects.filter(cache_key=key, source=Caption.Source.MODEL).order_by("-id").first()
            if cached is None:
                to_compute.setdefault(key, []).append(image)
            elif caption_record_reused(image=image, claim_token=claim_token, original=cached):
                summary += WorkerRunSummary(reused=1)
        if to_compute:
            summary += _caption_with_model(
                captioner=captioner,
                params=params,
                claim_token=claim_token,
                to_compute=to_compute,
                review_threshold=review_threshold,
            )
    return summary


def _caption_with_model(
    *,
    captioner,
    params: GenerationParams,
    claim_token: str,
    to_compute: dict[str, list[Image]],
    review_threshold: float,
) -> WorkerRunSummary:
    from captions import inference

    summary = WorkerRunSummary()
    timings: dict[str, float] = {}
    keys, pixels = [], []
    for key, same_images in to_compute.items():
        try:
            # decoded at the model's input size (JPEG draft mode), never the full photo
            pixels.append(inference.load_image_for_model(same_images[0], captioner, timings=timings))
            keys.append(key)
        except Exception as error:  # a missing or damaged stored file fails those images only
            for image in same_images:
                summary += image_attempt_failed(
                    image=image,
                    claim_token=claim_token,
                    reason=f"The stored image file could not be read: {error}",
                    permanent=True,
                )
    summary += WorkerRunSummary(timings_ms=timings)
    if not keys:
        return summary
    metrics.observe_batch(len(pixels))
    try:
        results = captioner.caption(pixels, params)
    except Exception as error:
        logger.exception("Captioning a batch of %d images with %s failed", len(keys), captioner.model_id)
        for key in keys:
            for image in to_compute[key]:
                summary += image_attempt_failed(
                    image=image, claim_token=claim_token, reason=f"The model failed on this batch: {error}"
                )
        return summary
    recording = time.perf_counter()
    for key, result in zip(keys, results, strict=True):
        first, *duplicates = to_compute[key]
        caption = caption_record(
            image=first,
            claim_token=claim_token,
            result=result,
            params=params,
            cache_key=key,
            review_threshold=review_threshold,
        )
        if caption is None:
            continue
        summary += WorkerRunSummary(captioned=1)
        for image in duplicates:
            if caption_record_reused(image=image, claim_token=claim_token, original=caption):
                summary += WorkerRunSummary(reused=1)
    model_ms = {
        phase: sum((result.timings.get(phase) or 0.0) for result in results) for phase in ("preprocess_ms", "generate_ms")
    }
    model_ms["record_ms"] = (time.perf_counter() - recording) * 1000
    return summary + WorkerRunSummary(timings_ms=model_ms)


def caption_cache_key(*, image: Image, captioner, params: GenerationParams) -> str:
    material = "|".join([image.sha256, captioner.model_id, captioner.model_version, params.cache_key()])
    return hashlib.sha256(material.encode()).hexdigest()


def _caption_store(*, image: Image, claim_token: str, **fields) -> Caption | None:
    """Store a caption as the image's current one and finish the image, if this claim still
    holds the image. The row lock held until commit keeps a concurrent delete or re-claim from
    slipping in between the check and the writes.

    Returns None (and writes nothing) when the lease was lost to another worker: that one
    records its own result, so a task that runs twice never produces two current captions.
    """
    with transaction.atomic():
        held = (
            Image.objects.select_for_update()
            .filter(pk=image.pk, claim_token=claim_token, status=Image.Status.PROCESSING)
            .exists()
        )
        if not held:
            return None
        caption = Caption.objects.create(image=image, **fields)
        now = timezone.now()
        Image.objects.filter(pk=image.pk).update(
            status=Image.Status.DONE,
            current_caption=caption,
            error="",
            finished_at=now,
            claim_expires_at=None,
            updated_at=now,
        )
    return caption


def caption_record(
    *,
    image: Image,
    claim_token: str,
    result,
    params: GenerationParams,
    cache_key: str,
    review_threshold: float | None = None,
) -> Caption | None:
    """Record a model's caption for a claimed image (None when the claim was lost)."""
    caption = _caption_store(
        image=image,
        claim_token=claim_token,
        text=result.text,
        raw_text=result.raw_text,
        confidence=result.confidence,
        candidates=[{"text": c.text, "score": c.score} for c in result.candidates],
        source=Caption.Source.MODEL,
        model_id=result.model_id,
        model_version=result.model_version,
        params=params.to_dict(),
        inference_ms=result.timings.get("total_ms"),
        timings=dict(result.timings),
        needs_review=_needs_review(result.confidence, review_threshold),
        cache_key=cache_key,
    )
    if caption is not None:
        metrics.observe_caption(
            result.model_id, (result.timings.get("total_ms") or 0.0) / 1000, result.confidence, reused=False
        )
    return caption


def caption_record_reused(*, image: Image, claim_token: str, original: Caption) -> bool:
    """Give a claimed image the caption already computed for the same bytes, model and params."""
    caption = _caption_store(
        image=image,
        claim_token=claim_token,
        text=original.text,
        raw_text=original.raw_text,
        confidence=original.confidence,
        candidates=original.candidates,
        source=Caption.Source.CACHE,
        model_id=original.model_id,
        model_version=original.model_version,
        params=original.params,
        inference_ms=0.0,
        timings={"reused": True},
        needs_review=original.needs_review,
        cache_key=original.cache_key,
        reused_from=original,
    )
    if caption is None:
        return False
    metrics.observe_caption(original.model_id, None, original.confidence, reused=True)
    return True


def _needs_review(confidence: float | None, threshold: float | None) -> bool:
    threshold = captioning_defaults().review_threshold if threshold is None else threshold
    return confidence is None or confidence < threshold
