"""Unpacking a .zip of images for a batch, safely and one member at a time.

The archive is untrusted. Nothing is ever written to disk under a member's name, and nothing is
unpacked before image_submit asks for it: `zip_unpack` reads only the archive's central
directory and returns one lazy `ZipMemberSource` per member; each is decompressed when it is
processed, into a spooled temporary file (memory up to FILE_UPLOAD_MAX_MEMORY_SIZE, then
FILE_UPLOAD_TEMP_DIR), and dropped before the next. So an archive costs the memory of one member.

Refused from the central directory, before anything is decompressed:

- the archive as a whole: more than MAX_FILES_PER_UPLOAD x MAX_ENTRIES_FACTOR entries, or members
  that declare more than MAX_UPLOAD_BYTES x MAX_FILES_PER_UPLOAD bytes in all;
- a member, by name: declared larger than MAX_UPLOAD_BYTES; a name that leaves the archive (``../``, absolute paths, drive letters), links, encryption.

Enforced again while reading, because the directory can lie: a member that unpacks to more than
it declared (or than MAX_UPLOAD_BYTES) is refused as soon as it does, and once the archive's
members have unpacked to the total limit, the rest are refused.

Member names: with the UTF-8 flag (bit 11) they are UTF-8. Without it, an Info-ZIP Unicode Path
extra field (0x7075) whose checksum matches the raw name gives the UTF-8 name (Info-ZIP, WinZip,
7-Zip and others write it). Otherwise Windows' built-in zip and older tools write the machine's
code page (OEM: cp437, cp850, cp866, cp852, cp737, cp862, cp932, GBK, cp949, Big5; ANSI:
cp1252, cp1251, cp1253, cp1255): names that are valid UTF-8 are read as UTF-8, the others with the
code page that decodes all of the archive's legacy names together into the most plausible text
(captions.uploads.legacy_encoding, the same decoder as raw multipart file names), among
ZIP_LEGACY_NAME_ENCODINGS. Very short names (a word of two or three letters) can still be
misread: there is little text to judge.

Members are judged by what they expand to, against MAX_UPLOAD_BYTES and the archive's total, not
by their compression ratio: an uncompressed document scan or a flat image compresses 100:1 or more
and is as welcome inside an archive as alone; a zip bomb's members declare (or, lying, unpack
to) more than the limits and are refused, from the central directory or as soon as they do.
"""

import contextlib
import os
import posixpath
import stat
import struct
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field

from django.conf import settings

from captions.services.results import Refusal
from captions.uploads import SourceRefused, UploadedFileSource, UploadSource, legacy_encoding

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
# Entries (directories included) read from one archive's directory before giving up.
MAX_ENTRIES_FACTOR = 4
UTF8_FLAG = 0x800
UNICODE_PATH_EXTRA = 0x7075
_CHUNK = 64 * 1024
# Files that archivers add beside the content; skipped without a word.
_ARCHIVER_NOISE = ("__MACOSX/", ".DS_Store", "Thumbs.db", "desktop.ini")


class ArchiveRejected(Exception):
    """The archive as a whole cannot be used; the message says why."""


@dataclass
class Unpacked:
    files: list[UploadSource] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    archives: list[zipfile.ZipFile] = field(default_factory=list)

    def close(self) -> None:
        """Close the archives the lazy members read from (after image_submit)."""
        for archive in self.archives:
            archive.close()


def is_zip(upload) -> bool:
    upload.seek(0)
    head = upload.read(4)
    upload.seek(0)
    return head in ZIP_MAGIC


class _ArchiveBudget:
    """Bytes the members of one archive may still unpack to (shared by its members)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0


class ZipMemberSource(UploadSource):
    """One archive member, decompressed only when opened (see the module docstring)."""

    def __init__(self, archive: zipfile.ZipFile, entry: zipfile.ZipInfo, *, name: str, display_name: str,
                 budget: _ArchiveBudget):
        super().__init__(name, display_name=display_name, size=entry.file_size)
        self.archive = archive
        self.entry = entry
        self.budget = budget

    @property
    def stored_name(self) -> str:
        """The member's path inside the archive (``trip/day1/beach.jpg``), so the exports' ``src``
        and the gallery keep the archive's folders and two ``IMG_0001.JPG`` of different folders
        stay apart. Names that leave the archive were refused before; ``.`` parts and empty parts
        are dropped; a path over 255 characters keeps its last folders and the file name."""
        parts = [p for p in self.name.replace("\\", "/").split("/") if p not in ("", ".")]
        path = "/".join(parts)
        while len(path) > 255 and len(parts) > 1:
            parts = parts[1:]
            path = "/".join(parts)
        return path[-255:]

    @contextlib.contextmanager
    def open(self):
        limit = min(self.entry.file_size, settings.MAX_UPLOAD_BYTES)
        spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115 (closed by the with below)
            max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, dir=settings.FILE_UPLOAD_TEMP_DIR,
            prefix="tmp", suffix=".upload.zipmember",
        )
        with spool:
            self._unpack_into(spool, limit)
            spool.seek(0)
            yield spool

    def _unpack_into(self, spool, limit: int) -> None:
        written = 0
        try:
            with self.archive.open(self.entry) as member:
                while chunk := member.read(_CHUNK):
                    written += len(chunk)
                    self.budget.used += len(chunk)
                    if written > limit:
                        raise SourceRefused(
                            _too_large(settings.MAX_UPLOAD_BYTES) if written > settings.MAX_UPLOAD_BYTES
                            else "The archive member unpacks to more than the size its archive declares; refused."
                        )
                    if self.budget.used > self.budget.limit:
                        raise SourceRefused(
                            f"The archive unpacks to more than {self.budget.limit / (1024 * 1024):g} MiB; "
                            "this member and the rest of the archive were not unpacked."
                        )
                    spool.write(chunk)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError,
                RuntimeError) as error:
            raise SourceRefused(f"The archive member is damaged or cannot be unpacked ({error}).") from None


def _unicode_path(entry: zipfile.ZipInfo, raw: bytes) -> str | None:
    """The name in the entry's Info-ZIP Unicode Path extra field (0x7075), when it is there, of
    version 1, and its CRC-32 matches the raw name (else the name was changed after it was written)."""
    extra = entry.extra or b""
    position = 0
    while position + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, position)
        data = extra[position + 4: position + 4 + size]
        position += 4 + size
        if tag != UNICODE_PATH_EXTRA or len(data) < 5 or data[0] != 1:
            continue
        if struct.unpack_from("<I", data, 1)[0] != zlib.crc32(raw) & 0xFFFFFFFF:
            continue
        try:
            return data[5:].decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None


def _entry_names(entries: list[zipfile.ZipInfo]) -> dict[int, str]:
    """Each entry's name decoded right (index in `entries` -> name)."""
    legacy = [(index, entry) for index, entry in enumerate(entries) if not entry.flag_bits & UTF8_FLAG]
    names = {index: entry.filename for index, entry in enumerate(entries)}
    if not legacy:
        return names
    raws = {}
    for index, entry in legacy:
        try:
            raw = entry.orig_filename.encode("cp437")  # zipfile decoded the raw bytes as cp437
        except UnicodeEncodeError:
            continue  # zipfile was given another metadata_encoding: keep its reading
        unicode_name = _unicode_path(entry, raw)
        if unicode_name:
            names[index] = unicode_name
        else:
            raws[index] = raw
    if not raws:
        return names
    candidates = getattr(settings, "ZIP_LEGACY_NAME_ENCODINGS", None) or None
    encoding = legacy_encoding(list(raws.values()), candidates)
    for index, raw in raws.items():
        try:
            names[index] = raw.decode(encoding)
        except UnicodeDecodeError:
            names[index] = raw.decode("cp437")
    return names


def zip_unpack(upload) -> Unpacked:
    """The image candidates in the archive (lazy ZipMemberSource, named
    `archive.zip/inner/name.jpg` in refusals) and the members refused from the central directory.
    Raises ArchiveRejected for an archive that cannot be read or is refused as a whole. The caller
    closes the archive (Unpacked.close) once the members have been processed."""
    archive_name = os.path.basename(upload.name or "") or "archive.zip"
    member_limit = settings.MAX_UPLOAD_BYTES
    total_limit = settings.MAX_UPLOAD_BYTES * settings.MAX_FILES_PER_UPLOAD
    result = Unpacked()
    upload.seek(0)
    try:
        archive = zipfile.ZipFile(upload.file if hasattr(upload, "file") else upload)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as error:
        raise ArchiveRejected(f"{archive_name}: not a readable zip archive ({error}).") from None
    entries = archive.infolist()
    if len(entries) > settings.MAX_FILES_PER_UPLOAD * MAX_ENTRIES_FACTOR:
        archive.close()
        raise ArchiveRejected(
            f"{archive_name}: the archive has {len(entries)} entries; at most "
            f"{settings.MAX_FILES_PER_UPLOAD} images can be uploaded at once."
        )
    names = _entry_names(entries)
    declared_total = 0
    budget = _ArchiveBudget(total_limit)
    for index, entry in enumerate(entries):
        name = names[index]
        display = f"{archive_name}/{name}"
        if entry.is_dir() or _is_noise(name):
            continue
        reason = _unsafe_reason(entry, name)
        if reason:
            result.refused.append(Refusal(display, reason))
            continue
        if entry.file_size > member_limit:
            result.refused.append(Refusal(display, _too_large(member_limit)))
            continue
        declared_total += entry.file_size
        result.files.append(ZipMemberSource(archive, entry, name=name, display_name=display, budget=budget))
    if not result.files and not result.refused:
        archive.close()
        raise ArchiveRejected(f"{archive_name}: the archive holds no files (it is empty or only has folders).")
    if declared_total > total_limit:
        archive.close()
        raise ArchiveRejected(
            f"{archive_name}: the archive's members unpack to {declared_total / (1024 * 1024):,.0f} MiB; "
            f"the limit is {total_limit / (1024 * 1024):g} MiB."
        )
    result.archives.append(archive)
    return result


def _too_large(limit: int) -> str:
    return f"The file is larger than the {limit / (1024 * 1024):g} MiB limit."


def _is_noise(name: str) -> bool:
    base = posixpath.basename(name)
    return name.startswith(_ARCHIVER_NOISE[0]) or base in _ARCHIVER_NOISE[1:] or base.startswith("._")


def _unsafe_reason(entry: zipfile.ZipInfo, name: str) -> str:
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


def uploads_expand(uploads: list) -> Unpacked:
    """Each upload as an UploadSource, except .zip archives, which give way to their (lazy)
    members. Call .close() on the result once the sources have been processed."""
    result = Unpacked()
    for upload in uploads:
        if not is_zip(upload):
            result.files.append(UploadedFileSource(upload))
            continue
        try:
            unpacked = zip_unpack(upload)
        except ArchiveRejected as error:
            result.refused.append(Refusal(os.path.basename(upload.name or "") or "archive.zip", str(error)))
            continue
        result.files.extend(unpacked.files)
        result.refused.extend(unpacked.refused)
        result.archives.extend(unpacked.archives)
    return result
