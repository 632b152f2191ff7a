"""Uploaded files on disk: staged while the request runs, published just before its transaction
commits, and swept when something died half-way.

The life of an uploaded file (MEDIA_ROOT, the FileSystemStorage of STORAGES["default"]):

1. `file_stage(source, final_name)` writes it to ``MEDIA_ROOT/.staging/<final_name>`` (same
   file system, so the move below is atomic), while the Image row naming ``final_name`` is
   written in the same transaction.
2. `staged_atomic()` is the transaction: as its last step before COMMIT it moves every staged
   file to ``MEDIA_ROOT/<final_name>`` (os.replace); if it rolls back (or COMMIT fails) the staged
   and published files are deleted. So when a row becomes visible its files are there: a row
   never points to a missing file. (Publishing *after* COMMIT, in on_commit, would leave a window
   where it does, and a process killed in it would leave such a row for good.)
3. `media_sweep()` (scheduled every 15 minutes as captions.tasks.media_sweep, and the
   ``sweep_media`` command) removes what a killed process left behind, once older than
   MEDIA_SWEEP_AFTER_MINUTES: staged files (their transaction never committed); files under
   ``images/`` and ``thumbnails/`` that no Image row names (killed between the publishing step
   and COMMIT, or by code that wrote files before this module); Django's temporary upload files
   (``tmp*.upload*``) in FILE_UPLOAD_TEMP_DIR, which a worker killed mid-request never closes. A
   staged file that a row does name but whose final file is missing is published instead.

On object storage (S3 and compatibles, see docs/storage.md: no rename, no shared disk) a file is
written under its final name in step 1, in the bucket; publishing is then nothing, and a rollback
deletes the object. The sweep lists ``images/`` and ``thumbnails/`` in the bucket the same way
(one listing request per 1,000 objects gives names and ages together).

A storage that cannot be written (down, refused, full) raises core.exceptions.StorageUnavailable
(503) or StorageFull (507): the whole request fails with a retryable answer and nothing stays
behind, never a per-file "send it in another format".

Guarantees: a row never points to a missing file; a file exists without its row for at most
MEDIA_SWEEP_AFTER_MINUTES plus the sweep interval (15 minutes), and in normal operation only for
the duration of one COMMIT.
"""

import contextlib
import errno
import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import transaction

from captions.models import Image
from core.exceptions import StorageFull, StorageUnavailable

logger = logging.getLogger(__name__)

STAGING_DIR = ".staging"
# Media folders that hold only files named by Image rows (file and thumbnail).
IMAGE_MEDIA_DIRS = ("images", "thumbnails")
_COPY_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StagedFile:
    final_name: str  # relative to MEDIA_ROOT, as stored in the FileField
    staged_path: Path | None  # None: written to its final name in object storage

    @property
    def final_path(self) -> Path:
        return Path(settings.MEDIA_ROOT) / self.final_name


@dataclass(frozen=True)
class MediaSweepSummary:
    published: int = 0
    staged_deleted: int = 0
    orphans_deleted: int = 0
    temp_deleted: int = 0


def _staging_root() -> Path:
    return Path(settings.MEDIA_ROOT) / STAGING_DIR


def media_on_local_disk() -> bool:
    """Whether the media storage is a folder of this host (FileSystemStorage), not a bucket."""
    try:
        default_storage.path("probe")
    except NotImplementedError:
        return False
    return True


def storage_error(error: BaseException, action: str) -> Exception:
    """`error` from the media storage as the exception the request answers with: StorageFull
    (507) for a full disk or quota, StorageUnavailable (503) for anything else. Logs one line."""
    if isinstance(error, (StorageFull, StorageUnavailable)):
        return error
    full = isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)
    code = ""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", ""))
    full = full or code in ("EntityTooLarge", "QuotaExceeded", "InsufficientStorage")
    logger.warning("Media storage failed to %s: %s: %s", action, type(error).__name__, error)
    if full:
        return StorageFull()
    return StorageUnavailable()


def file_stage(source: BinaryIO | bytes, final_name: str) -> StagedFile:
    """Write `source` (bytes, or a binary file object read from its current position in 1 MiB
    chunks) to the staging area under `final_name` (object storage: to `final_name` itself);
    returns the StagedFile. Raises StorageFull or StorageUnavailable when it cannot be written,
    leaving nothing behind."""
    if not media_on_local_disk():
        return _object_stage(source, final_name)
    staged = StagedFile(final_name=final_name, staged_path=_staging_root() / final_name)
    try:
        staged.staged_path.parent.mkdir(parents=True, exist_ok=True)
        with open(staged.staged_path, "xb") as out:
            if isinstance(source, (bytes, bytearray, memoryview)):
                out.write(source)
            else:
                shutil.copyfileobj(source, out, _COPY_CHUNK)
        permissions = getattr(settings, "FILE_UPLOAD_PERMISSIONS", None)
        if permissions is not None:
            os.chmod(staged.staged_path, permissions)
    except OSError as error:
        with contextlib.suppress(OSError):
            staged.staged_path.unlink(missing_ok=True)
        raise storage_error(error, f"stage {final_name}") from None
    return staged


def _object_stage(source: BinaryIO | bytes, final_name: str) -> StagedFile:
    content = ContentFile(bytes(source)) if isinstance(source, (bytes, bytearray, memoryview)) else File(source)
    try:
        saved = default_storage.save(final_name, content)
    except Exception as error:
        with contextlib.suppress(Exception):
            default_storage.delete(final_name)
        raise storage_error(error, f"store {final_name}") from None
    if saved != final_name:  # names are random: a clash means something is wrong, keep nothing
        media_files_delete([saved])
        raise StorageUnavailable()
    return StagedFile(final_name=final_name, staged_path=None)


def media_files_delete(names: list[str]) -> None:
    """Delete stored media files (after their rows are gone); one that cannot be deleted now is
    logged and left for the media sweep, which removes files no row names."""
    for index, name in enumerate(names):
        try:
            default_storage.delete(name)
        except Exception as error:  # noqa: BLE001 - the sweep retries; the caller's work is done
            # One line for all: a storage that is down would fail every one of them the same way.
            logger.warning("Could not delete %d media file(s) from %s on (%s: %s); the media sweep will",
                           len(names) - index, name, type(error).__name__, error)
            return


def staged_publish(staged: list[StagedFile]) -> None:
    """Move staged files to their final names now (os.replace: atomic on one file system). A file
    already moved (by the sweep) is left as it is."""
    for item in staged:
        if item.staged_path is None:
            continue  # already under its final name (object storage)
        try:
            item.final_path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(item.staged_path, item.final_path)
        except FileNotFoundError:
            if not item.final_path.exists():
                logger.error("Staged upload %s vanished before it was published", item.final_name)
        except OSError:
            logger.exception("Could not publish the staged upload %s; the media sweep will retry", item.final_name)


_active = threading.local()


@contextlib.contextmanager
def staged_atomic():
    """transaction.atomic() that publishes the files staged in it just before it commits.

    Yields the list to which StagedFile objects are added. Nested uses join the outermost one,
    which publishes for all. On any exception (including a failed COMMIT) the staged files and
    any already published are deleted, then the exception propagates."""
    outer = getattr(_active, "staged", None)
    if outer is not None:
        with transaction.atomic():
            yield outer
        return
    staged: list[StagedFile] = []
    _active.staged = staged
    try:
        with transaction.atomic():
            yield staged
            staged_publish(staged)
    except BaseException:
        staged_discard(staged)
        for item in staged:
            if item.staged_path is not None:
                with contextlib.suppress(OSError):
                    item.final_path.unlink(missing_ok=True)
        raise
    finally:
        _active.staged = None


def staged_discard(staged: list[StagedFile]) -> None:
    """Delete staged files that will not be published (their transaction rolled back or the file
    was refused after staging)."""
    media_files_delete([item.final_name for item in staged if item.staged_path is None])
    for item in staged:
        if item.staged_path is None:
            continue
        try:
            item.staged_path.unlink()
        except FileNotFoundError:
            pass
        except OSError:
            logger.warning("Could not delete the staged file %s; the media sweep will", item.staged_path, exc_info=True)


def _older_than(path: Path, cutoff: float) -> bool:
    try:
        return path.stat().st_mtime < cutoff
    except FileNotFoundError:
        return False


def _referenced(names: list[str]) -> set[str]:
    """Of `names` (relative media names), those an Image row points to (file or thumbnail)."""
    found: set[str] = set()
    for start in range(0, len(names), 500):
        chunk = names[start : start + 500]
        found.update(Image.objects.filter(file__in=chunk).values_list("file", flat=True))
        found.update(Image.objects.filter(thumbnail__in=chunk).values_list("thumbnail", flat=True))
    return found


def _files_under(root: Path):
    if not root.is_dir():
        return
    for folder, _dirs, files in os.walk(root):
        for name in files:
            yield Path(folder) / name


def _bucket_files_older_than(prefix: str, cutoff: float):
    """Names of the objects under `prefix` in the media bucket last written before `cutoff`."""
    for page in default_storage.connection.meta.client.get_paginator("list_objects_v2").paginate(
        Bucket=default_storage.bucket_name, Prefix=prefix
    ):
        for entry in page.get("Contents", ()):
            if entry["LastModified"].timestamp() < cutoff:
                yield entry["Key"]


def _bucket_sweep(cutoff: float) -> int:
    deleted = 0
    for folder in IMAGE_MEDIA_DIRS:
        old = list(_bucket_files_older_than(folder + "/", cutoff))
        for start in range(0, len(old), 500):
            names = old[start : start + 500]
            wanted = _referenced(names)
            orphans = [name for name in names if name not in wanted]
            media_files_delete(orphans)
            deleted += len(orphans)
    return deleted


def media_sweep(*, older_than_minutes: int | None = None) -> MediaSweepSummary:
    """Repair and clean the media folder or bucket (see the module docstring); files younger than
    `older_than_minutes` (default MEDIA_SWEEP_AFTER_MINUTES) are never touched, so uploads in
    flight are safe. Returns the counts of what it did."""
    minutes = settings.MEDIA_SWEEP_AFTER_MINUTES if older_than_minutes is None else older_than_minutes
    cutoff = time.time() - minutes * 60
    if not media_on_local_disk():
        summary = MediaSweepSummary(orphans_deleted=_bucket_sweep(cutoff), temp_deleted=_temp_sweep(cutoff))
        if summary.orphans_deleted or summary.temp_deleted:
            logger.info("Media sweep: %s", summary)
        return summary
    media_root = Path(settings.MEDIA_ROOT)
    published = staged_deleted = orphans_deleted = temp_deleted = 0

    staging = _staging_root()
    old_staged = [path for path in _files_under(staging) if _older_than(path, cutoff)]
    names = [path.relative_to(staging).as_posix() for path in old_staged]
    wanted = _referenced(names)
    for path, name in zip(old_staged, names, strict=True):
        final = media_root / name
        if name in wanted and not final.exists():
            staged_publish([StagedFile(final_name=name, staged_path=path)])
            published += 1
            logger.warning("Media sweep published %s, staged by a request that died after its commit", name)
        else:
            path.unlink(missing_ok=True)
            staged_deleted += 1

    for folder in IMAGE_MEDIA_DIRS:
        old = [path for path in _files_under(media_root / folder) if _older_than(path, cutoff)]
        names = [path.relative_to(media_root).as_posix() for path in old]
        wanted = _referenced(names)
        for path, name in zip(old, names, strict=True):
            if name not in wanted:
                path.unlink(missing_ok=True)
                orphans_deleted += 1

    temp_deleted = _temp_sweep(cutoff)

    summary = MediaSweepSummary(published, staged_deleted, orphans_deleted, temp_deleted)
    if published or staged_deleted or orphans_deleted or temp_deleted:
        logger.info("Media sweep: %s", summary)
    return summary


def _temp_sweep(cutoff: float) -> int:
    """Delete Django's temporary upload files older than `cutoff` (a killed request's)."""
    deleted = 0
    temp_dir = getattr(settings, "FILE_UPLOAD_TEMP_DIR", None)
    if temp_dir:
        for path in _files_under(Path(temp_dir)):
            # Only Django's own temporary upload files ("tmpXXXX.upload.ext"): the folder may be
            # shared with other programs when an operator points it elsewhere.
            if path.name.startswith("tmp") and ".upload" in path.name and _older_than(path, cutoff):
                path.unlink(missing_ok=True)
                deleted += 1
    return deleted
