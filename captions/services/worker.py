"""The worker's cycle: claim queued images, caption them in batches (reusing cached captions),
record the results. The worker heartbeat is monitoring's (monitoring.services).

Reliability: a claim's lease (CAPTION_LEASE_SECONDS) is renewed by a background thread every
third of it while its batch is worked on (``lease_kept``); a run stops claiming after
CAPTION_TASK_BUDGET_SECONDS and enqueues a follow-up task; the model stays loaded in the
long-lived worker process (mlcore's captioner cache) across tasks. One image never fails its
neighbours (``Captioner.caption_isolated`` bisects a failing batch), and an empty caption is
never stored as done."""

import contextlib
import hashlib
import logging
import os
import threading
import time

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from captions import metrics, signals
from captions.alttext import caption_takes_over
from captions.models import Caption, Image
from captions.selectors import captioning_defaults
from captions.services.alttext import (
    alt_with_ocr,
    caption_checks,
    checks_need_review,
    decorative_finish,
    image_ocr_run,
)
from captions.services.embeddings import image_embedding_refresh
from captions.services.queue import (
    caption_workers_wake,
    image_attempt_failed,
    images_claim,
    images_lease_renew,
    images_leases_expired_release,
    images_release_dead_local_claims,
    worker_identity,
)
from captions.services.results import WorkerRunSummary
from captions.services.styles import custom_styles_sync
from core.exceptions import StorageUnavailable
from mlcore.errors import FailureKind, failure_kind_of
from mlcore.params import GenerationParams, InvalidParams
from mlcore.predictors.base import failure_reason
from mlcore.results import CaptionFailure, CaptionOutcome, CaptionResult

logger = logging.getLogger(__name__)


# When this process started its current captioning run (None: idle). Read by the watch thread.
_busy_since: float | None = None
# The last model this process loaded for captioning: {"model_spec", "model_id", "model_info"}.
_model_loaded: dict | None = None
_watch_started = threading.Lock()
_watch_thread: threading.Thread | None = None


def worker_busy_since() -> float | None:
    """time.time() at which this worker process started captioning, None when it is idle."""
    return _busy_since


def worker_watch_start(*, interval_seconds: float | None = None) -> threading.Thread:
    """Start (once per process) the worker's watch thread: every CAPTION_WATCH_SECONDS, whatever
    the process is doing (a captioning task can run for minutes), it reports this worker alive
    and whether it is busy (captions.signals.worker_active, busy=...) and releases the images
    whose lease expired (a dead host's), waking the workers for them. So a dead host's images are
    taken again within CAPTION_LEASE_SECONDS + CAPTION_WATCH_SECONDS, and a busy worker is never
    shown as missing. Uses its own database connection."""
    global _watch_thread
    with _watch_started:
        if _watch_thread is not None and _watch_thread.is_alive():
            return _watch_thread
        interval = interval_seconds or settings.CAPTION_WATCH_SECONDS
        worker_id = worker_identity()

        parent = os.getppid()

        def watch() -> None:
            while os.getppid() == parent:  # an orphan (its qcluster died) does not claim to be alive
                try:
                    signals.worker_active.send(
                        sender=None, worker_id=worker_id, busy_since=_busy_since, model_loaded=_model_loaded
                    )
                    requeued, failed = images_leases_expired_release()
                    if requeued:
                        logger.warning("Queued again %d image(s) whose worker lease expired.", requeued)
                        caption_workers_wake()
                    if failed:
                        logger.warning("Failed %d image(s) whose workers stopped on them too often.", failed)
                except Exception as error:  # the database away: try again at the next tick
                    logger.warning("Worker watch: %s: %s", type(error).__name__, error)
                    connection.close()
                time.sleep(interval)

        _watch_thread = threading.Thread(target=watch, name="caption-worker-watch", daemon=True)
        _watch_thread.start()
        return _watch_thread


def caption_pending_run(
    *, worker_id: str | None = None, max_batches: int | None = None, budget_seconds: float | None = None
) -> WorkerRunSummary:
    global _busy_since
    _busy_since = time.time()
    try:
        return _caption_pending_run(worker_id=worker_id, max_batches=max_batches, budget_seconds=budget_seconds)
    finally:
        _busy_since = None


def _caption_pending_run(
    *, worker_id: str | None = None, max_batches: int | None = None, budget_seconds: float | None = None
) -> WorkerRunSummary:
    """Claim and caption queued images batch after batch until none is left, `max_batches`
    batches were done, or `budget_seconds` (default CAPTION_TASK_BUDGET_SECONDS) have passed.
    When the budget ends the run with images still queued, a follow-up task is enqueued, so a
    task never runs into the queue's timeout (which kills the worker and its loaded model).
    First releases the claims of dead worker processes of this host."""
    worker_id = worker_id or worker_identity()
    budget = settings.CAPTION_TASK_BUDGET_SECONDS if budget_seconds is None else budget_seconds
    deadline = time.monotonic() + budget
    images_release_dead_local_claims()
    summary = WorkerRunSummary()
    batches = 0
    while max_batches is None or batches < max_batches:
        if batches and time.monotonic() >= deadline:  # every run does at least one batch
            if Image.objects.filter(status=Image.Status.QUEUED, available_at__lte=timezone.now()).exists():
                logger.info("Captioning run used its %ss budget; enqueueing a follow-up task.", budget)
                caption_workers_wake()
            break
        started = time.perf_counter()
        token, images = images_claim(worker_id=worker_id, limit=settings.CAPTION_BATCH_SIZE)
        summary += WorkerRunSummary(timings_ms={"claim_ms": (time.perf_counter() - started) * 1000})
        if not images:
            break
        batches += 1
        with lease_kept(claim_token=token):
            summary += images_caption(images=images, claim_token=token)
    return summary


@contextlib.contextmanager
def lease_kept(*, claim_token: str, lease_seconds: int | None = None):
    """Renew the lease of ``claim_token``'s images every third of the lease from a background
    thread (its own database connection) while the block runs, so a long model call keeps its
    claim but a killed worker loses it within one lease. The thread stops when the block ends."""
    lease = lease_seconds or settings.CAPTION_LEASE_SECONDS
    stop = threading.Event()

    def renew() -> None:
        try:
            while not stop.wait(lease / 3):
                try:
                    if not images_lease_renew(claim_token=claim_token, lease_seconds=lease):
                        return  # every image is recorded, or the claim was lost
                except Exception:  # a busy database: try again at the next tick, within the lease
                    logger.warning("Could not renew the lease of %s", claim_token, exc_info=True)
        finally:
            connection.close()

    thread = threading.Thread(target=renew, name=f"lease-{claim_token[-12:]}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


def images_caption(*, images: list[Image], claim_token: str) -> WorkerRunSummary:
    """Caption claimed images: reuse cached captions, one batched model call per (model, params)."""
    from captions import inference

    summary = WorkerRunSummary()
    # Read once per batch, so activating a fine-tuned model or a calibrated threshold takes
    # effect from the next batch without restarting the workers.
    defaults = captioning_defaults()
    default_spec = defaults.model_spec
    review_threshold = defaults.review_threshold
    custom_styles_sync()  # a style staff defined since the last batch reaches this worker
    groups: dict[tuple[str, GenerationParams], list[Image]] = {}
    for image in images:
        try:
            params = GenerationParams.from_dict(image.params)
        except InvalidParams as error:
            summary += image_attempt_failed(
                image=image,
                claim_token=claim_token,
                reason=f"Invalid generation parameters: {error}",
                kind=Image.FailureKind.INVALID_PARAMS,
                permanent=True,
            )
            continue
        if params.purpose == "decorative":  # done with an empty alt text, no model call
            decorative_finish(image_id=image.pk, claim_token=claim_token)
            continue
        groups.setdefault((image.model_spec or default_spec, params), []).append(image)

    for (spec, params), group in groups.items():
        try:
            captioner = inference.captioner_for(spec)
            if spec == default_spec:
                global _model_loaded
                info = captioner.info() if hasattr(captioner, "info") else {}
                _model_loaded = {"model_spec": spec, "model_id": captioner.model_id, "model_info": info}
        except inference.ModelUnavailable as error:
            # inference.captioner_for logged the reason once per load attempt (not once per image)
            for image in group:
                summary += image_attempt_failed(
                    image=image,
                    claim_token=claim_token,
                    reason=str(error),
                    kind=Image.FailureKind.MODEL_UNAVAILABLE,
                    permanent=True,
                )
            continue

        # A style / language this model cannot write (the web process could not tell, e.g. its host
        # lacks the model's config) fails those images for good, with the reason. The captioner
        # answers from mlcore's model catalogue (an ensemble or fallback chain from its members).
        try:
            captioner.check_style(params)
        except InvalidParams as error:
            for image in group:
                summary += image_attempt_failed(
                    image=image,
                    claim_token=claim_token,
                    reason=f"{error.message}.",
                    kind=Image.FailureKind.UNSUPPORTED_STYLE,
                    permanent=True,
                )
            continue

        # Same bytes + same model + same params: caption once, reuse for the rest, including
        # duplicates inside this very batch.
        to_compute: dict[str, list[Image]] = {}
        for image in group:
            key = caption_cache_key(image=image, captioner=captioner, params=params)
            cached = (
                Caption.objects.filter(cache_key=key, source=Caption.Source.MODEL)
                .exclude(text="")
                .order_by("-id")
                .first()
            )
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
        except StorageUnavailable:  # the storage, not the file: retried with back-off
            for image in same_images:
                summary += image_attempt_failed(
                    image=image,
                    claim_token=claim_token,
                    reason="The media storage could not be reached to read the image; it will be tried again.",
                    kind=Image.FailureKind.IMAGE_UNREADABLE,
                    permanent=False,
                )
        except Exception as error:  # a missing or damaged stored file fails those images only
            logger.warning("Stored file of image %s unreadable: %r", same_images[0].pk, error)
            if isinstance(error, FileNotFoundError):
                said = "it is missing from storage"
            elif isinstance(error, OSError) and not type(error).__module__.startswith("PIL"):
                said = "the storage could not read it"
            else:
                said = str(error)
            for image in same_images:
                summary += image_attempt_failed(
                    image=image,
                    claim_token=claim_token,
                    reason=f"The stored image file could not be read: {said}",
                    kind=Image.FailureKind.IMAGE_UNREADABLE,
                    permanent=True,
                )
    summary += WorkerRunSummary(timings_ms=timings)
    if not keys:
        return summary
    metrics.observe_batch(len(pixels))
    outcomes = _caption_each(captioner, pixels, params)
    descriptions = _extended_descriptions(captioner, pixels, params, outcomes)
    # the text in each image (Tesseract, bounded in time), where asked: into the alt text
    ocr_results = [
        image_ocr_run(to_compute[key][0]) if isinstance(outcome, CaptionResult) and outcome.ok else None
        for key, outcome in zip(keys, outcomes, strict=True)
    ]
    recording = time.perf_counter()
    for key, outcome, description, ocr in zip(keys, outcomes, descriptions, ocr_results, strict=True):
        first, *duplicates = to_compute[key]
        if not isinstance(outcome, CaptionResult) or not outcome.ok:
            # A CaptionFailure (its reason never empty) or a result with no words: this image's
            # attempt failed; its neighbours are recorded as usual. A transient failure (an engine
            # that did not answer, an error) is retried with back-off; no words from a model that
            # does not sample would be no words again, so that fails at once.
            reason = _failure_reason(outcome)
            kind = _failure_kind(outcome)
            permanent = kind == Image.FailureKind.NO_WORDS and not params.do_sample
            for image in to_compute[key]:
                summary += image_attempt_failed(
                    image=image, claim_token=claim_token, reason=reason, kind=kind, permanent=permanent
                )
            continue
        caption = caption_record(
            image=first,
            claim_token=claim_token,
            result=outcome,
            params=params,
            cache_key=key,
            review_threshold=review_threshold,
            extended_description=description,
            ocr=ocr,
        )
        if caption is None:
            continue
        summary += WorkerRunSummary(captioned=1)
        for image in duplicates:
            if caption_record_reused(image=image, claim_token=claim_token, original=caption):
                summary += WorkerRunSummary(reused=1)
    model_ms = {
        phase: sum((outcome.timings.get(phase) or 0.0) for outcome in outcomes if isinstance(outcome, CaptionResult))
        for phase in ("preprocess_ms", "generate_ms")
    }
    model_ms["record_ms"] = (time.perf_counter() - recording) * 1000
    return summary + WorkerRunSummary(timings_ms=model_ms)


def _extended_descriptions(captioner, pixels: list, params: GenerationParams, outcomes: list) -> list[str]:
    """For purpose ``complex``: a second generation in the ``description`` style (with the same
    purpose and context) for each image whose short alt text was written; "" otherwise, or when
    this model cannot write that style (the owner writes the description on the image page)."""
    if params.purpose != "complex":
        return [""] * len(pixels)
    wanted = [i for i, outcome in enumerate(outcomes) if isinstance(outcome, CaptionResult) and outcome.ok]
    description_params = params.replace(style="description", num_alternatives=1)
    if not wanted:
        return [""] * len(pixels)
    try:
        captioner.check_style(description_params)  # mlcore's model catalogue answers
    except InvalidParams:
        return [""] * len(pixels)
    found = _caption_each(captioner, [pixels[i] for i in wanted], description_params)
    texts = [""] * len(pixels)
    for index, outcome in zip(wanted, found, strict=True):
        if isinstance(outcome, CaptionResult) and outcome.ok:
            texts[index] = outcome.text
    return texts


def _caption_each(captioner, pixels: list, params: GenerationParams) -> list[CaptionOutcome]:
    """One outcome per image: a CaptionResult or a CaptionFailure (mlcore's typed outcome).

    ``caption_isolated`` bisects a failing batch so only the culprit fails. An engine that could
    caption only some images (mlcore.engines.EngineUnavailable) gives its partial results and a
    reason for each failed index; any other exception fails the whole batch with its message."""
    from mlcore.engines import EngineUnavailable

    try:
        return list(captioner.caption_isolated(pixels, params))
    except EngineUnavailable as error:
        logger.warning("Engine %s captioned only part of a batch: %s", error.engine, error)
        partial = list(error.partial) + [None] * (len(pixels) - len(error.partial))
        outcomes = []
        for index, result in enumerate(partial[: len(pixels)]):
            if index in error.failures or result is None:
                reason = error.failures.get(index) or str(error)
                outcomes.append(CaptionFailure(reason=reason, error_type="EngineUnavailable", model_id=error.engine,
                                               kind=error.kind))
            else:
                outcomes.append(result)
        return outcomes
    except Exception as error:
        logger.exception("Captioning a batch of %d images with %s failed", len(pixels), captioner.model_id)
        return [CaptionFailure(reason=failure_reason(error), error_type=type(error).__name__,
                               kind=failure_kind_of(error)) for _ in pixels]


def _failure_reason(outcome: CaptionOutcome) -> str:
    """The non-empty reason an outcome that is not a usable caption gets recorded with."""
    if isinstance(outcome, CaptionFailure) and outcome.reason.strip():
        return f"The model could not caption this image: {outcome.reason}"
    details = outcome.details if isinstance(outcome, CaptionResult) else {}
    return f"The model produced no caption for this image{': ' + details['error'] if details.get('error') else ''}."


# mlcore's FailureKind -> Image.FailureKind (the same names; one table, matched on the enum)
_FAILURE_KINDS = {kind: Image.FailureKind(kind.value) for kind in FailureKind}


def _failure_kind(outcome: CaptionOutcome) -> str:
    """The Image.FailureKind of an outcome that is not a usable caption, from mlcore's typed
    FailureKind (never from class names or the words of the reason): a result with no words is NO_WORDS."""
    if isinstance(outcome, CaptionFailure):
        return _FAILURE_KINDS[outcome.kind]
    return Image.FailureKind.NO_WORDS


def caption_cache_key(*, image: Image, captioner, params: GenerationParams) -> str:
    """sha256 of (image bytes, the image loader's version, model id, model version, params incl.
    style and language, and the definition of a custom style, so editing its prompt or limits does
    not reuse older captions). mlcore.images.LOADER_VERSION changes when a decoding fix changes the
    pixels some files give (colour management, say): their captions are then computed again."""
    from mlcore.images import LOADER_VERSION

    material = [image.sha256, f"loader-{LOADER_VERSION}", captioner.model_id, captioner.model_version,
                params.cache_key()]
    material += _style_material(params)
    return hashlib.sha256("|".join(material).encode()).hexdigest()


# --- styles, languages, engine metadata and the unknown-confidence policy ----------------------


def _style_material(params: GenerationParams) -> list[str]:
    from mlcore.styles import get_style

    style = get_style(params.style)
    return [] if style.builtin else [f"style:{style.prompt}|{style.max_chars}|{style.kind}"]


def _caption_metadata(result) -> dict:
    """The Caption style fields from an mlcore CaptionResult: style, language, the exact
    prompt, tags (list, tags style only) and details (confidence_source: "logprobs"/"unknown" from
    engines, "model_scores" for local models; the fallback record: which engine answered, which failed)."""
    details = {k: v for k, v in dict(result.details or {}).items() if k in _STORED_DETAILS}
    details.setdefault("confidence_source", "model_scores")
    return {
        "style": result.style or "alt",
        "language": result.language or "en",
        "prompt": result.prompt or "",
        "tags": list(result.tags) if result.tags is not None else None,
        "details": details,
    }


_STORED_DETAILS = ("confidence_source", "engine", "fallback", "finish_reason", "chosen_model", "flags")


def _needs_review(confidence: float | None, threshold: float | None, confidence_source: str = "") -> bool:
    """Below the threshold, no confidence, or (CAPTION_UNKNOWN_CONFIDENCE_REVIEW, default True) a
    confidence the engine could not measure (details["confidence_source"] == "unknown": a server
    that returns no logprobs): such a caption always goes to review."""
    if confidence_source == "unknown" and settings.CAPTION_UNKNOWN_CONFIDENCE_REVIEW:
        return True
    threshold = captioning_defaults().review_threshold if threshold is None else threshold
    return confidence is None or confidence < threshold


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
            .first()
        )
        if held is None:
            return None
        current = Caption.objects.filter(pk=held.current_caption_id).first() if held.current_caption_id else None
        # the alt-text checks; a rule of ALT_CHECK_REVIEW_RULES sends the caption to review
        checks = caption_checks(text=fields["text"], image=held)
        fields["checks"] = checks
        fields["needs_review"] = fields.get("needs_review", False) or checks_need_review(checks)
        caption = Caption.objects.create(image=image, **fields)
        # A person's (or a file's) text stays current unless this re-caption asked to replace it:
        # the model caption is then a suggestion in the history (captions.services.alttext).
        takes_over = caption_takes_over(current=current, replace_human=held.replace_human)
        now = timezone.now()
        Image.objects.filter(pk=image.pk).update(
            status=Image.Status.DONE,
            current_caption=caption if takes_over else current,
            replace_human=False,
            error="",
            finished_at=now,
            claim_expires_at=None,
            updated_at=now,
        )
    image_embedding_refresh(image_id=image.pk)  # semantic search; an error never fails the caption
    return caption


def caption_record(
    *,
    image: Image,
    claim_token: str,
    result,
    params: GenerationParams,
    cache_key: str,
    review_threshold: float | None = None,
    extended_description: str = "",
    ocr=None,
) -> Caption | None:
    """Record a model's caption for a claimed image (None when the claim was lost).
    Raises ValueError for a result with no words (``result.ok`` False): never stored as done."""
    if not result.ok:
        raise ValueError("An empty caption is never recorded; record a failed attempt instead.")
    text, extended_description = alt_with_ocr(
        text=result.text, description=extended_description, params=params.to_dict(), ocr=ocr)
    caption = _caption_store(
        image=image,
        claim_token=claim_token,
        text=text,
        raw_text=result.raw_text,
        confidence=result.confidence,
        candidates=[{"text": c.text, "score": c.score} for c in result.candidates],
        source=Caption.Source.MODEL,
        model_id=result.model_id,
        model_version=result.model_version,
        params=params.to_dict(),
        inference_ms=result.timings.get("total_ms"),
        timings=dict(result.timings),
        needs_review=_needs_review(
            result.confidence, review_threshold, (result.details or {}).get("confidence_source", "")
        ),
        cache_key=cache_key,
        extended_description=extended_description,
        **_caption_metadata(result),
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
        extended_description=original.extended_description,
        style=original.style,
        language=original.language,
        prompt=original.prompt,
        tags=original.tags,
        details=original.details,
    )
    if caption is None:
        return False
    metrics.observe_caption(original.model_id, None, original.confidence, reused=True)
    return True

