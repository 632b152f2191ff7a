"""Every write of the captions app: submitting images, the worker's claim/caption/record cycle,
retries, deletion and the sweep that recovers images from crashed workers."""

import hashlib
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from captions.imaging import (
    FORMAT_EXTENSIONS,
    ImageRejected,
    decode_image,
    make_thumbnail,
)
from captions.models import Batch, Caption, Image
from core import metrics
from mlcore.params import GenerationParams, InvalidParams

logger = logging.getLogger(__name__)

CAPTION_TASK = "captions.tasks.caption_pending"


# --- Submitting ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    filename: str
    reason: str


@dataclass
class SubmitResult:
    accepted: list[Image] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    batch: Batch | None = None


class UploadRejected(Exception):
    """The upload as a whole is refused (no file is stored); the message says why."""


def generation_params_clean(raw: dict | None) -> dict:
    """Validated generation parameters as a plain dict; raises ValidationError naming the field."""
    try:
        return GenerationParams.from_dict(dict(raw or {})).to_dict()
    except InvalidParams as error:
        raise ValidationError({error.field: [error.message]}) from None


def image_submit(
    *,
    owner,
    files: list[UploadedFile],
    params: dict | None = None,
    model_spec: str = "",
    oversize_filenames: list[str] | None = None,
) -> SubmitResult:
    """Store every acceptable file as a queued Image and wake a worker; refuse the rest by name.

    A refused file leaves no row and no file behind; the accepted ones of the same upload go on.
    """
    oversize_filenames = list(oversize_filenames or [])
    total = len(files) + len(oversize_filenames)
    if total == 0:
        raise UploadRejected("Choose at least one image to upload.")
    if total > settings.MAX_FILES_PER_UPLOAD:
        raise UploadRejected(
            f"{total} files were sent; at most {settings.MAX_FILES_PER_UPLOAD} can be uploaded at once."
        )
    clean_params = generation_params_clean(params)

    result = SubmitResult()
    limit_mib = settings.MAX_UPLOAD_BYTES / (1024 * 1024)
    for name in oversize_filenames:
        result.refused.append(Refusal(name, f"The file is larger than the {limit_mib:g} MiB limit."))

    prepared = []
    for upload in files:
        name = os.path.basename(upload.name or "") or "(unnamed file)"
        if upload.size is not None and upload.size > settings.MAX_UPLOAD_BYTES:
            result.refused.append(Refusal(name, f"The file is larger than the {limit_mib:g} MiB limit."))
            continue
        data = upload.read()
        try:
            decoded = decode_image(data, max_pixels=settings.MAX_IMAGE_PIXELS)
        except ImageRejected as error:
            result.refused.append(Refusal(name, str(error)))
            continue
        prepared.append((name, data, decoded))

    if not prepared:
        return result

    saved_paths: list[str] = []
    try:
        with transaction.atomic():
            if total > 1:
                result.batch = Batch.objects.create(owner=owner)
            for name, data, decoded in prepared:
                result.accepted.append(
                    _image_store(
                        owner=owner,
                        batch=result.batch,
                        filename=name,
                        data=data,
                        decoded=decoded,
                        params=clean_params,
                        model_spec=model_spec,
                        saved_paths=saved_paths,
                    )
                )
            transaction.on_commit(caption_workers_wake)
    except Exception:
        for path in saved_paths:
            default_storage.delete(path)
        raise
    return result


def _image_store(*, owner, batch, filename, data, decoded, params, model_spec, saved_paths) -> Image:
    stem = uuid.uuid4().hex
    month = timezone.now().strftime("%Y/%m")
    file_path = default_storage.save(
        f"images/{month}/{stem}.{FORMAT_EXTENSIONS[decoded.format]}", ContentFile(data)
    )
    saved_paths.append(file_path)
    thumb_path = default_storage.save(
        f"thumbnails/{month}/{stem}.jpg",
        ContentFile(make_thumbnail(decoded.image, size=settings.THUMBNAIL_SIZE)),
    )
    saved_paths.append(thumb_path)
    return Image.objects.create(
        owner=owner,
        batch=batch,
        file=file_path,
        thumbnail=thumb_path,
        original_filename=filename[:255],
        sha256=hashlib.sha256(data).hexdigest(),
        width=decoded.width,
        height=decoded.height,
        format=decoded.format,
        byte_size=len(data),
        params=params,
        model_spec=model_spec,
        status=Image.Status.QUEUED,
        available_at=timezone.now(),
    )


def caption_workers_wake() -> None:
    """Send one wake-up message to the workers. The database, not the message, says what to do,
    so a lost message only delays work until the sweep sends another."""
    from django_q.tasks import async_task

    try:
        async_task(CAPTION_TASK, task_name="caption-pending")
    except Exception:  # the broker is down: the scheduled sweep wakes the workers later
        logger.exception("Could not enqueue the captioning task; the sweep will retry.")


# --- User actions ---------------------------------------------------------------------------------


def image_requeue(*, image_id: int, from_status: str, **changes) -> bool:
    """Put an image in `from_status` back in the queue with a fresh attempt budget (and, with
    `changes`, new params or model) and wake a worker once committed. False if it was not in
    that status (someone else moved it first)."""
    now = timezone.now()
    updated = Image.objects.filter(pk=image_id, status=from_status).update(
        status=Image.Status.QUEUED,
        attempts=0,
        error="",
        available_at=now,
        claim_token="",
        claimed_at=None,
        claim_expires_at=None,
        finished_at=None,
        updated_at=now,
        **changes,
    )
    if updated:
        transaction.on_commit(caption_workers_wake)
    return bool(updated)


def image_retry(*, image: Image) -> Image:
    """Queue a failed image again with a fresh attempt budget."""
    if not image_requeue(image_id=image.pk, from_status=Image.Status.FAILED):
        raise ValidationError("Only a failed image can be retried.")
    image.refresh_from_db()
    return image


def image_delete(*, image: Image) -> None:
    """Remove the image, its captions and its files (files go once the rows are gone)."""
    paths = [p for p in (image.file.name, image.thumbnail.name) if p]
    with transaction.atomic():
        image.delete()
        transaction.on_commit(lambda: [default_storage.delete(p) for p in paths])


# --- The worker's cycle -----------------------------------------------------------------------------


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def images_claim(*, worker_id: str, limit: int, lease_seconds: int | None = None) -> tuple[str, list[Image]]:
    """Take up to `limit` queued images for this worker, with a lease that expires.

    On PostgreSQL the candidate rows are locked with SKIP LOCKED so concurrent workers take
    different images; on SQLite the IMMEDIATE transaction holds the database write lock. In both
    cases the status guard on the UPDATE makes a double claim impossible.
    """
    lease = timedelta(seconds=lease_seconds or settings.CAPTION_LEASE_SECONDS)
    token = f"{worker_id}:{uuid.uuid4().hex[:12]}"
    now = timezone.now()
    with transaction.atomic():
        candidates = Image.objects.filter(status=Image.Status.QUEUED, available_at__lte=now).order_by(
            "available_at", "id"
        )
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        ids = list(candidates.values_list("id", flat=True)[:limit])
        if not ids:
            return token, []
        Image.objects.filter(id__in=ids, status=Image.Status.QUEUED).update(
            status=Image.Status.PROCESSING,
            claimed_at=now,
            claim_expires_at=now + lease,
            claim_token=token,
            attempts=F("attempts") + 1,
            updated_at=now,
        )
    return token, list(Image.objects.filter(claim_token=token).select_related("owner").order_by("id"))


@dataclass(frozen=True)
class WorkerRunSummary:
    captioned: int = 0
    reused: int = 0
    failed: int = 0
    retried: int = 0

    def __add__(self, other: "WorkerRunSummary") -> "WorkerRunSummary":
        return WorkerRunSummary(*(a + b for a, b in zip(self.__dict__.values(), other.__dict__.values(), strict=True)))


def caption_pending_run(*, worker_id: str | None = None, max_batches: int | None = None) -> WorkerRunSummary:
    """Claim and caption queued images batch after batch until none is left (or max_batches)."""
    worker_id = worker_id or worker_identity()
    summary = WorkerRunSummary()
    batches = 0
    while max_batches is None or batches < max_batches:
        token, images = images_claim(worker_id=worker_id, limit=settings.CAPTION_BATCH_SIZE)
        if not images:
            break
        batches += 1
        summary += images_caption(images=images, claim_token=token)
    return summary


def images_caption(*, images: list[Image], claim_token: str) -> WorkerRunSummary:
    """Caption claimed images: reuse cached captions, one batched model call per (model, params)."""
    from captions import inference
    from feedback.selectors import active_caption_model, active_review_threshold

    summary = WorkerRunSummary()
    # Read once per batch, so activating a fine-tuned model or a calibrated threshold takes
    # effect from the next batch without restarting the workers.
    default_spec = active_caption_model()
    review_threshold = active_review_threshold()
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
    keys, pixels = [], []
    for key, same_images in to_compute.items():
        try:
            pixels.append(inference.load_image_for_model(same_images[0]))
            keys.append(key)
        except Exception as error:  # a missing or damaged stored file fails those images only
            for image in same_images:
                summary += image_attempt_failed(
                    image=image,
                    claim_token=claim_token,
                    reason=f"The stored image file could not be read: {error}",
                    permanent=True,
                )
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
    return summary


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
    threshold = settings.CAPTION_REVIEW_THRESHOLD if threshold is None else threshold
    return confidence is None or confidence < threshold


def image_attempt_failed(*, image: Image, claim_token: str, reason: str, permanent: bool = False) -> WorkerRunSummary:
    """Record a failed attempt: back to the queue after a delay, or failed for good once the
    attempts are spent (or at once when retrying cannot help, such as a model that won't load)."""
    now = timezone.now()
    current = Image.objects.filter(pk=image.pk, claim_token=claim_token, status=Image.Status.PROCESSING)
    attempts = current.values_list("attempts", flat=True).first()
    if attempts is None:
        return WorkerRunSummary()
    metrics.observe_failure(
        image.model_spec or settings.CAPTION_MODEL, final=permanent or attempts >= settings.CAPTION_MAX_ATTEMPTS
    )
    if permanent or attempts >= settings.CAPTION_MAX_ATTEMPTS:
        if not permanent:
            reason = f"{reason} (gave up after {attempts} attempts)"
        current.update(status=Image.Status.FAILED, error=reason, finished_at=now, claim_expires_at=None, updated_at=now)
        return WorkerRunSummary(failed=1)
    current.update(
        status=Image.Status.QUEUED,
        error=f"Attempt {attempts} failed: {reason}",
        available_at=now + timedelta(seconds=settings.CAPTION_RETRY_DELAY_SECONDS * attempts),
        claim_expires_at=None,
        updated_at=now,
    )
    return WorkerRunSummary(retried=1)


@dataclass(frozen=True)
class SweepSummary:
    requeued: int
    failed: int
    woke: bool


def images_requeue_stale() -> SweepSummary:
    """Recover images from crashed workers and lost messages (run on a schedule)."""
    now = timezone.now()
    expired = Image.objects.filter(status=Image.Status.PROCESSING, claim_expires_at__lt=now)
    failed = expired.filter(attempts__gte=settings.CAPTION_MAX_ATTEMPTS).update(
        status=Image.Status.FAILED,
        error=(
            f"A worker stopped while captioning this image {settings.CAPTION_MAX_ATTEMPTS} times "
            "(its lease expired each time). Retry it, and check the worker logs."
        ),
        finished_at=now,
        claim_expires_at=None,
        updated_at=now,
    )
    requeued = expired.update(
        status=Image.Status.QUEUED,
        error="The worker captioning this image stopped before finishing; it was queued again.",
        available_at=now,
        claim_expires_at=None,
        updated_at=now,
    )
    # Cheap to over-send: a worker that wakes to an empty queue returns at once.
    woke = Image.objects.filter(status=Image.Status.QUEUED, available_at__lte=now).exists()
    if woke:
        caption_workers_wake()
    return SweepSummary(requeued=requeued, failed=failed, woke=woke)


# --- Batches, the demo and worker heartbeats (the REST API's writes) -----------------------------


def batch_submit(
    *,
    owner,
    files: list[UploadedFile],
    params: dict | None = None,
    name: str = "",
    oversize_filenames: list[str] | None = None,
    refused: list[Refusal] | None = None,
) -> SubmitResult:
    """Like image_submit, but the accepted images always form a batch (one file included), and
    `refused` (files refused before this call, such as bad zip members) leads the refusals."""
    earlier = list(refused or [])
    with transaction.atomic():
        try:
            result = image_submit(owner=owner, files=files, params=params, oversize_filenames=oversize_filenames)
        except UploadRejected:
            if files or oversize_filenames or not earlier:
                raise
            result = SubmitResult()  # only refused zip members: nothing else to say about it
        if result.accepted and result.batch is None:
            result.batch = Batch.objects.create(owner=owner)
            Image.objects.filter(pk__in=[image.pk for image in result.accepted]).update(batch=result.batch)
            for image in result.accepted:
                image.batch = result.batch
        if result.batch is not None and name:
            result.batch.name = name[:200]
            result.batch.save(update_fields=["name"])
    result.refused = earlier + result.refused
    return result


def demo_owner_get():
    """The system account that owns anonymous demo uploads; it cannot sign in."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    owner, created = User.objects.get_or_create(
        email=settings.DEMO_USER_EMAIL.lower(), defaults={"is_active": False}
    )
    if created:
        owner.set_unusable_password()
        owner.save(update_fields=["password"])
    return owner


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


HEARTBEAT_KEEP = timedelta(days=1)


def worker_heartbeat_record(*, check_model: bool, worker_id: str | None = None):
    """Record that this worker process lives; with check_model, also whether it can load
    CAPTION_MODEL (loading it once per process, as captioning does)."""
    from captions import inference
    from captions.models_heartbeat import WorkerHeartbeat
    from feedback.selectors import active_caption_model

    now = timezone.now()
    values: dict = {"seen_at": now}
    if check_model:
        spec = active_caption_model()
        values.update(model_spec=spec, model_checked_at=now, model_id="", model_error="")
        try:
            captioner = inference.captioner_for(spec)
        except inference.ModelUnavailable as error:
            values.update(model_ok=False, model_error=str(error))
        except Exception as error:  # any failure to load is the operator's to see, not a crash
            logger.exception("Loading %s for the heartbeat failed", spec)
            values.update(model_ok=False, model_error=f"{type(error).__name__}: {error}")
        else:
            values.update(model_ok=True, model_id=captioner.model_id)
    heartbeat, _ = WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id or worker_identity(), defaults=values
    )
    WorkerHeartbeat.objects.filter(seen_at__lt=now - HEARTBEAT_KEEP).delete()
    return heartbeat
