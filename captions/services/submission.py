"""Submitting images: one upload (image_submit), a batch (batch_submit, .zip archives
expanded) or what the web upload form sends (upload_submit: a batch when it holds an archive),
validated and stored as queued Images; the workers are woken once committed.

Memory: the files of a request are handled one at a time, and each is dropped before the next:
read from its (spooled) upload file, its header checked against the request's pixel budget
(MAX_PIXELS_PER_REQUEST), decoded once by mlcore.images.load_image with target_size=THUMBNAIL_SIZE
(JPEG draft decoding, then Image.reduce; an image over DECODE_IN_PROCESS_MAX_PIXELS that has
no reduced decoding, such as a big PNG, is decoded in a child process that sends back only the
reduced image), thumbnailed, hashed in chunks, and copied to the staging area
(captions.services.media) in chunks. The web process so holds one decoded image at a time,
whatever the number of files; the worker decodes the original again for the model.

Independence: every file is processed in its own savepoint; any exception on one file (the
expected refusals, and also any bug: it is logged with logger.exception) refuses that file with a
reason, and the others of the request are stored. Except a dependency that fails (the database,
the media storage down or full: core.exceptions' infrastructure errors): then the whole request
fails with a retryable 503/507 and rolls back, so an answer never announces rows whose
transaction could not commit, and the files it wrote are deleted. Files are published (moved from staging to
their final names) when the transaction commits, so a killed request leaves no file that a row
does not name beyond the media sweep's delay.
"""

import hashlib
import logging
import os
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from PIL import Image as PILImage

from captions.caption_request import CaptionRequest
from captions.embedding import FoundText, read_found_text
from captions.imaging import ALLOWED_FORMATS, FORMAT_EXTENSIONS, ImageRejected, decode_image, make_thumbnail
from captions.models import Batch, Caption, Image
from captions.services.media import StagedFile, file_stage, staged_atomic, staged_discard
from captions.services.queue import caption_workers_wake
from captions.services.results import Refusal, SubmitResult, UploadRejected
from captions.uploads import UNNAMED_UPLOAD, SourceRefused, UploadedFileSource, UploadSource
from core.exceptions import StorageFull, is_infrastructure_error

logger = logging.getLogger(__name__)

INTERNAL_ERROR_REASON = (
    "The file could not be processed because of an error on our side (it has been logged); "
    "the other files were not affected. Try again later or send it in another format."
)
def image_submit(
    *,
    owner,
    files: list,
    request: CaptionRequest | None = None,
    oversize_filenames: list[str] | None = None,
    file_alt_text: str = "",
    interactive: bool = False,
) -> SubmitResult:
    """Store every acceptable file as a queued Image and wake a worker; refuse the rest by name.
    `interactive`: somebody waits for the answer (predict, the demo): claimed before bulk work.

    `files`: UploadedFiles of the request or captions.uploads.UploadSource (lazy zip members),
    processed one at a time in that order. `request`: what to caption them with, checked where
    it entered (captions.caption_request.caption_request_check; None: the defaults and the active
    model). A refused file leaves no row and no file behind; the accepted ones of the same upload
    go on. Raises UploadRejected when nothing can be considered (no file, more than
    MAX_FILES_PER_UPLOAD).

    `file_alt_text` ("keep", "compare" or "off"; "" for the site's ALT_TEXT_FROM_FILE): what to do
    with alt text already embedded in a file (file_captions_store).
    """
    sources = [item if isinstance(item, UploadSource) else UploadedFileSource(item) for item in files]
    # An empty part without a name is a file input left empty (what browsers send), not a file.
    sources = [item for item in sources if not (item.name == UNNAMED_UPLOAD and item.size == 0)]
    oversize_filenames = list(oversize_filenames or [])
    total = len(sources) + len(oversize_filenames)
    if total == 0:
        raise UploadRejected("Choose at least one image to upload.")
    if total > settings.MAX_FILES_PER_UPLOAD:
        raise UploadRejected(
            f"{total} files were sent; at most {settings.MAX_FILES_PER_UPLOAD} can be uploaded at once."
        )
    request = request or CaptionRequest()

    result = SubmitResult()
    limit_mib = settings.MAX_UPLOAD_BYTES / (1024 * 1024)
    for name in oversize_filenames:
        result.refused.append(Refusal(name, f"The file is larger than the {limit_mib:g} MiB limit."))

    context = _SubmitContext(owner=owner, params=request.params_dict(), model_spec=request.model_spec,
                             want_batch=total > 1, file_alt_text=file_alt_text_choice(file_alt_text),
                             priority=Image.Priority.INTERACTIVE if interactive else Image.Priority.BULK)
    with staged_atomic() as staged:
        context.staged = staged
        for number, source in enumerate(sources, start=1):
            display = _display_name(source, number)
            batch_before = context.batch
            try:
                with transaction.atomic():  # a savepoint: one file's failure undoes only its rows
                    image = _submit_one(source, display=display, number=number, context=context, result=result)
            except Exception as error:
                if isinstance(error, StorageFull) or is_infrastructure_error(error):
                    raise  # the request fails whole (503/507): nothing is announced or kept
                if context.batch is not batch_before:  # the batch made for this file was rolled back too
                    context.batch = result.batch = batch_before
                if isinstance(error, SourceRefused):  # could not be unpacked: named with its archive's path
                    result.refused.append(Refusal(source.display_name if source.name else display, str(error)))
                elif isinstance(error, (ImageRejected, _Refused)):
                    result.refused.append(Refusal(display, str(error)))
                else:
                    logger.exception("Unexpected error while storing the upload %r; the file is refused", display)
                    result.refused.append(Refusal(display, INTERNAL_ERROR_REASON))
            else:
                result.accepted.append(image)
        if result.accepted:
            transaction.on_commit(caption_workers_wake)
    return result


FILE_ALT_TEXT_KEEP, FILE_ALT_TEXT_COMPARE, FILE_ALT_TEXT_OFF = "keep", "compare", "off"
FILE_ALT_TEXT_CHOICES = (FILE_ALT_TEXT_KEEP, FILE_ALT_TEXT_COMPARE, FILE_ALT_TEXT_OFF)


def file_alt_text_choice(choice: str = "") -> str:
    """What to do with alt text embedded in uploaded files: keep (it becomes the image's alt
    text; the model's caption is kept as a suggestion), compare (the model's caption becomes the
    alt text; the file's is in the history to compare), off (not read). "" is the site's
    ALT_TEXT_FROM_FILE. ValidationError for anything else."""
    choice = choice or settings.ALT_TEXT_FROM_FILE
    if choice not in FILE_ALT_TEXT_CHOICES:
        raise ValidationError({"file_alt_text": [f"Choose one of {', '.join(FILE_ALT_TEXT_CHOICES)}."]})
    return choice


def file_captions_store(*, image: Image, found: FoundText, make_current: bool) -> list[Caption]:
    """Store what the file said about itself as captions with source "file": the alt text in each
    of its languages (x-default: the upload's language), else the best other description;
    extended descriptions as the "extended" style. With make_current the alt text of the upload's
    language (or the first found) becomes the image's current caption. A note about unreadable
    metadata is kept on the image."""
    language = (image.params or {}).get("language") or "en"
    style = (image.params or {}).get("style") or "alt"
    texts = {lang: text for lang, text in found.alt_text.items() if lang != "x-default"}
    default = found.alt_text.get("x-default")
    if default and default not in texts.values():  # x-default alone, or a text no language repeats
        texts.setdefault(language, default)
    field_name = "IPTC Alt Text (Accessibility)"
    if not texts and found.description:
        texts, field_name = {language: found.description}, found.description_field
    captions = [
        Caption.objects.create(image=image, text=text, raw_text=text, source=Caption.Source.FILE, style=style,
                               language=lang, needs_review=False, details={"file_field": field_name})
        for lang, text in texts.items()
    ]
    for lang, text in found.extended.items():
        Caption.objects.create(image=image, text=text, raw_text=text, source=Caption.Source.FILE, style="extended",
                               language=language if lang == "x-default" else lang, needs_review=False,
                               details={"file_field": "IPTC Extended Description (Accessibility)"})
    updates = {}
    if make_current and captions:
        updates["current_caption"] = next((c for c in captions if c.language == language), captions[0])
    if found.notes:
        updates["file_metadata_note"] = " ".join(found.notes)[:2000]
    if updates:
        Image.objects.filter(pk=image.pk).update(**updates)
        for name, value in updates.items():
            setattr(image, name, value)
    return captions


@dataclass
class _SubmitContext:
    owner: object
    params: dict
    model_spec: str
    want_batch: bool
    file_alt_text: str = ""
    priority: int = 0
    batch: Batch | None = None
    pixels: int = 0
    staged: list[StagedFile] = field(default_factory=list)


class _Refused(Exception):
    """This file is refused; the message says why."""


def _display_name(source: UploadSource, number: int) -> str:
    """How refusals name a file: the name it would be stored under (an archive member's path
    inside its archive, UploadSource.stored_name)."""
    name = source.stored_name
    if not name or source.name == UNNAMED_UPLOAD:
        return f"unnamed-{number}"
    return name


def _size_of(handle) -> int:
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    handle.seek(0)
    return size


class _Unclosable:
    """A view of a binary file that Pillow may close without closing the file (Pillow closes the
    file of a multi-frame image, GIF or MPO, when the image is closed)."""

    def __init__(self, handle):
        self._handle = handle

    def read(self, *args):
        return self._handle.read(*args)

    def readline(self, *args):
        return self._handle.readline(*args)

    def seek(self, *args):
        return self._handle.seek(*args)

    def tell(self):
        return self._handle.tell()

    def seekable(self):
        return True

    def readable(self):
        return True

    def close(self):
        pass


def _header_pixels(handle) -> int | None:
    """width x height from the image's header (nothing is decoded); None if it cannot be read
    (load_image then says why)."""
    try:
        with PILImage.open(_Unclosable(handle), formats=ALLOWED_FORMATS) as opened:
            width, height = opened.size
        return width * height
    except Exception:
        return None
    finally:
        handle.seek(0)


def _validators():
    return [import_string(path) for path in getattr(settings, "UPLOAD_IMAGE_VALIDATORS", [])]


def _sha256_of(handle) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(1024 * 1024):
        digest.update(chunk)
    handle.seek(0)
    return digest.hexdigest()


def _submit_one(source: UploadSource, *, display: str, number: int, context: _SubmitContext, result) -> Image:
    """Validate, thumbnail, stage and record one file; the decoded pixels are dropped on return."""
    limit = settings.MAX_UPLOAD_BYTES
    if source.size is not None and source.size > limit:
        raise _Refused(f"The file is larger than the {limit / (1024 * 1024):g} MiB limit.")
    staged: list[StagedFile] = []
    try:
        with source.open() as handle:
            byte_size = _size_of(handle)
            if byte_size > limit:
                raise _Refused(f"The file is larger than the {limit / (1024 * 1024):g} MiB limit.")
            pixels = _header_pixels(handle)
            budget = settings.MAX_PIXELS_PER_REQUEST
            if pixels is not None and context.pixels + pixels > budget:
                raise _Refused(
                    f"The request's images add up to more than {budget / 1e6:,.0f} megapixels; this file "
                    "was not processed. Send it again in another request."
                )
            context.pixels += pixels or 0
            loaded = decode_image(_Unclosable(handle), max_pixels=settings.MAX_IMAGE_PIXELS,
                                  target_size=settings.THUMBNAIL_SIZE, fit=2 * settings.THUMBNAIL_SIZE)
            for check in _validators():
                check(loaded, display)
            thumbnail = make_thumbnail(loaded.image, size=settings.THUMBNAIL_SIZE)
            width, height, fmt = loaded.width, loaded.height, loaded.format
            del loaded  # the decoded pixels go before the next file is read
            handle.seek(0)
            sha256 = _sha256_of(handle)
            found = read_found_text(_Unclosable(handle)) if context.file_alt_text != FILE_ALT_TEXT_OFF else None
            handle.seek(0)
            stem = uuid.uuid4().hex
            month = timezone.now().strftime("%Y/%m")
            file_name = f"images/{month}/{stem}.{FORMAT_EXTENSIONS[fmt]}"
            thumb_name = f"thumbnails/{month}/{stem}.jpg"
            staged.append(file_stage(handle, file_name))
            staged.append(file_stage(thumbnail, thumb_name))
        filename = source.stored_name
        if not filename or source.name == UNNAMED_UPLOAD:
            filename = f"unnamed-{number}.{FORMAT_EXTENSIONS[fmt]}"
        decorative = (context.params or {}).get("purpose") == "decorative"
        if context.want_batch and context.batch is None:
            context.batch = result.batch = Batch.objects.create(owner=context.owner)
        image = Image.objects.create(
            owner=context.owner,
            batch=context.batch,
            file=file_name,
            thumbnail=thumb_name,
            original_filename=filename[:255],
            sha256=sha256,
            width=width,
            height=height,
            format=fmt,
            byte_size=byte_size,
            params=context.params,
            model_spec=context.model_spec,
            # a decorative image is done at once: its alt text is empty, no model call
            status=Image.Status.DONE if decorative else Image.Status.QUEUED,
            finished_at=timezone.now() if decorative else None,
            available_at=timezone.now(),
            priority=context.priority,
        )
        if found is not None:
            file_captions_store(image=image, found=found, make_current=context.file_alt_text == FILE_ALT_TEXT_KEEP)
    except BaseException:
        staged_discard(staged)
        raise
    context.staged.extend(staged)
    return image


def batch_submit(
    *,
    owner,
    files: list,
    request: CaptionRequest | None = None,
    name: str = "",
    oversize_filenames: list[str] | None = None,
    refused: list[Refusal] | None = None,
    file_alt_text: str = "",
) -> SubmitResult:
    """Like image_submit, but the accepted images always form a batch (one file included),
    .zip archives among `files` are expanded into their images (captions.zipimport: unsafe or
    damaged members are refused by name), and `refused` (files refused before this call, such
    as archives dropped for their size) leads the refusals."""
    from captions import zipimport  # it uses this package's result types

    unpacked = zipimport.uploads_expand(list(files))
    try:
        return _batch_submit(owner=owner, unpacked=unpacked, request=request, name=name,
                             oversize_filenames=oversize_filenames, refused=refused, file_alt_text=file_alt_text)
    finally:
        unpacked.close()


def _batch_submit(*, owner, unpacked, request, name, oversize_filenames, refused, file_alt_text="") -> SubmitResult:
    files = unpacked.files
    earlier = list(refused or []) + unpacked.refused
    with staged_atomic():
        try:
            result = image_submit(owner=owner, files=files, request=request, oversize_filenames=oversize_filenames,
                                  file_alt_text=file_alt_text)
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


def oversize_archives_refused(oversize_filenames: list[str]) -> tuple[list[Refusal], list[str]]:
    """(refusals, the other names): the .zip archives among the files dropped for their size are
    refused with the archive limit (BATCH_MAX_ZIP_BYTES), not the per-image one."""
    limit_mib = settings.BATCH_MAX_ZIP_BYTES / (1024 * 1024)
    zips = [name for name in oversize_filenames if name.lower().endswith(".zip")]
    refused = [Refusal(os.path.basename(name), f"The archive is larger than the {limit_mib:g} MiB limit.") for name in zips]
    return refused, [name for name in oversize_filenames if name not in zips]


def upload_submit(
    *,
    owner,
    files: list,
    request: CaptionRequest | None = None,
    oversize_filenames: list[str] | None = None,
    file_alt_text: str = "",
) -> SubmitResult:
    """What the web upload form sends: images and/or .zip archives of images. Without an archive,
    image_submit; with one (or one dropped for its size), batch_submit, as the API's batches
    endpoint: the archives' members are checked like uploaded files (the same limits, unsafe or
    damaged members refused by name) and the accepted images form one batch."""
    from captions import zipimport  # it uses this package's result types

    refused, oversize_filenames = oversize_archives_refused(list(oversize_filenames or []))
    if not refused and not any(zipimport.is_zip(upload) for upload in files):
        return image_submit(owner=owner, files=files, request=request, oversize_filenames=oversize_filenames,
                            file_alt_text=file_alt_text)
    return batch_submit(owner=owner, files=files, request=request, oversize_filenames=oversize_filenames,
                        refused=refused, file_alt_text=file_alt_text)
