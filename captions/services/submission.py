"""Submitting images: one upload (image_submit) or a batch (batch_submit, .zip archives
expanded), validated and stored as queued Images; the workers are woken once committed."""

import hashlib
import os
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from captions.imaging import (
    FORMAT_EXTENSIONS,
    ImageRejected,
    decode_image,
    make_thumbnail,
)
from captions.models import Batch, Image
from captions.services.queue import caption_workers_wake
from captions.services.results import Refusal, SubmitResult, UploadRejected
from captions.services.styles import caption_request_clean
from mlcore.params import GenerationParams, InvalidParams


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
    # style / language / model checks (issue 12): captions.services.styles
    clean_params = caption_request_clean(params=params, model_spec=model_spec, owner=owner)

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


def batch_submit(
    *,
    owner,
    files: list[UploadedFile],
    params: dict | None = None,
    name: str = "",
    oversize_filenames: list[str] | None = None,
    refused: list[Refusal] | None = None,
    model_spec: str = "",
) -> SubmitResult:
    """Like image_submit, but the accepted images always form a batch (one file included),
    .zip archives among `files` are expanded into their images (captions.zipimport: unsafe or
    damaged members are refused by name), and `refused` (files refused before this call, such
    as archives dropped for their size) leads the refusals."""
    from captions import zipimport  # it uses this package's result types

    unpacked = zipimport.uploads_expand(list(files))
    files = unpacked.files
    earlier = list(refused or []) + unpacked.refused
    with transaction.atomic():
        try:
            result = image_submit(
                owner=owner, files=files, params=params, oversize_filenames=oversize_filenames, model_spec=model_spec
            )
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
