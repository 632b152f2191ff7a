"""Unpacking a .zip of images for a batch, safely.

The archive is untrusted. Nothing is ever written to disk under a member's name: members are
read into memory, each capped at MAX_UPLOAD_BYTES as it is decompressed (the sizes in the
archive's directory can lie), with a cap on the whole archive's unpacked size and on its number
of entries, so a zip bomb costs at most those caps. Members whose names try to leave the
archive (`../`, absolute paths, drive letters), links, encrypted and damaged members are refused
by name; every other member goes through the same image validation as an upload
(captions.services.image_submit), which refuses non-images with its own reasons.
"""

import io
import os
import posixpath
import stat
import zipfile
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile

from captions.services.results import Refusal

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
# Entries (directories included) read from one archive's directory before giving up.
MAX_ENTRIES_FACTOR = 4
_CHUNK = 64 * 1024
# Files that archivers add beside the content; skipped without a word.
_ARCHIVER_NOISE = ("__MACOSX/", ".DS_Store", "Thumbs.db", "desktop.ini")


class ArchiveRejected(Exception):
    """The archive as a whole cannot be used; the message says why."""


@dataclass
class Unpacked:
    files: list[UploadedFile] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


def is_zip(upload: UploadedFile) -> bool:
    upload.seek(0)
    head = upload.read(4)
    upload.seek(0)
    return head in ZIP_MAGIC


def zip_unpack(upload: UploadedFile) -> Unpacked:
    """The image candidates in the archive, named `archive.zip/inner/name.jpg`, and the
    members refused on the way. Raises ArchiveRejected for an archive that cannot be read."""
    archive_name = os.path.basename(upload.name or "") or "archive.zip"
    member_limit = settings.MAX_UPLOAD_BYTES
    total_limit = settings.MAX_UPLOAD_BYTES * settings.MAX_FILES_PER_UPLOAD
    result = Unpacked()
    upload.seek(0)
    try:
        archive = zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as error:
        raise ArchiveRejected(f"{archive_name}: not a readable zip archive ({error}).") from None
    with archive:
        entries = archive.infolist()
        if len(entries) > settings.MAX_FILES_PER_UPLOAD * MAX_ENTRIES_FACTOR:
            raise ArchiveRejected(
                f"{archive_name}: the archive has {len(entries)} entries; at most "
                f"{settings.MAX_FILES_PER_UPLOAD} images can be uploaded at once."
            )
        unpacked_total = 0
        for entry in entries:
            display = f"{archive_name}/{entry.filename}"
            if entry.is_dir() or _is_noise(entry.filename):
                continue
            reason = _unsafe_reason(entry)
            if reason:
                result.refused.append(Refusal(display, reason))
                continue
            if entry.file_size > member_limit:
                result.refused.append(Refusal(display, _too_large(member_limit)))
                continue
            try:
                data = _read_capped(archive, entry, member_limit)
            except _TooLarge:
                result.refused.append(Refusal(display, _too_large(member_limit)))
                continue
            except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError) as error:
                result.refused.append(Refusal(display, f"The archive member is damaged or cannot be unpacked ({error})."))
                continue
            unpacked_total += len(data)
            if unpacked_total > total_limit:
                raise ArchiveRejected(
                    f"{archive_name}: the archive unpacks to more than {total_limit / (1024 * 1024):g} MiB."
                )
            result.files.append(SimpleUploadedFile(display, data))
    return result


class _TooLarge(Exception):
    pass


def _read_capped(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, limit: int) -> bytes:
    buffer = io.BytesIO()
    with archive.open(entry) as member:
        while chunk := member.read(_CHUNK):
            buffer.write(chunk)
            if buffer.tell() > limit:
                raise _TooLarge()
    return buffer.getvalue()


def _too_large(limit: int) -> str:
    return f"The file is larger than the {limit / (1024 * 1024):g} MiB limit."


def _is_noise(name: str) -> bool:
    base = posixpath.basename(name)
    return name.startswith(_ARCHIVER_NOISE[0]) or base in _ARCHIVER_NOISE[1:] or base.startswith("._")


def _unsafe_reason(entry: zipfile.ZipInfo) -> str:
    name = entry.filename
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts:
        return "The name points outside the archive (absolute path or '..'); refused."
    if "\x00" in name:
        return "The name contains a NUL character; refused."
    mode = entry.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "Links are not unpacked; refused."
    if entry.flag_bits & 0x1:
        return "Encrypted archive members cannot be read."
    return ""


def uploads_expand(uploads: list[UploadedFile]) -> Unpacked:
    """Each upload as is, except .zip archives, which give way to their members."""
    result = Unpacked()
    for upload in uploads:
        if not is_zip(upload):
            result.files.append(upload)
            continue
        try:
            unpacked = zip_unpack(upload)
        except ArchiveRejected as error:
            result.refused.append(Refusal(os.path.basename(upload.name or "") or "archive.zip", str(error)))
            continue
        result.files.extend(unpacked.files)
        result.refused.extend(unpacked.refused)
    return result
