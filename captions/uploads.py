"""Streaming upload limits: a file over MAX_UPLOAD_BYTES is dropped while it arrives.

Django reads multipart bodies chunk by chunk through these handlers, so an oversize file is
never read whole nor written to disk. The refused file's name is kept on the request so the
form or the API can name it in its answer while the other files of the upload go through.
"""

import contextlib
import posixpath
import re

from django.conf import settings
from django.core.exceptions import SuspiciousMultipartForm
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest, multipartparser


def oversize_refusals(request: HttpRequest) -> list[str]:
    """Names of the files dropped from this request for exceeding MAX_UPLOAD_BYTES."""
    return list(getattr(request, "_oversize_uploads", []))


class UploadCutOff(multipartparser.MultiPartParserError, SuspiciousMultipartForm):
    """The multipart body cannot be trusted whole: it ended early (the client went away) or
    without its closing boundary, or it carries file parts the parser could not read. Nothing
    of it is stored; the request answers 400 saying why."""


class _BodyWatch:
    """A view of the request body stream that counts the file parts sent (their header blocks)
    and keeps the body's length and last bytes, so that what the parser produced can be checked
    against what was sent (SizeLimitedUploadHandler.upload_complete)."""

    _FILENAME = re.compile(rb'filename\*?\s*=\s*("([^"\r\n]*)"|([^;\r\n]*))', re.IGNORECASE)
    _MAX_HEADER = 64 * 1024

    def __init__(self, stream, boundary: bytes):
        self._stream = stream
        self._delimiter = b"--" + boundary + b"\r\n"
        self._closing = b"--" + boundary + b"--"
        self._carry = b""
        self.read_bytes = 0
        self.tail = b""
        self.file_parts: list[str] = []  # the raw file names of the file parts, as sent

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def read(self, *args):
        data = self._stream.read(*args)
        if data:
            self.read_bytes += len(data)
            self.tail = (self.tail + data)[-512:]
            self._scan(data)
        return data

    def _scan(self, data: bytes) -> None:
        buffer = self._carry + data
        position = 0
        while (start := buffer.find(self._delimiter, position)) != -1:
            end = buffer.find(b"\r\n\r\n", start + len(self._delimiter))
            if end == -1:  # the header continues in the next chunk
                self._carry = buffer[start:][-self._MAX_HEADER:]
                return
            header = buffer[start + len(self._delimiter) : end]
            found = self._FILENAME.search(header)
            if found:
                raw = found.group(2) if found.group(2) is not None else found.group(3)
                self.file_parts.append(raw.decode("utf-8", "replace").strip() or "(no name)")
            position = end
        self._carry = buffer[-(len(self._delimiter) - 1) :]

    def closed_properly(self) -> bool:
        return self.tail.rstrip(b"\r\n").endswith(self._closing)


class SizeLimitedUploadHandler(FileUploadHandler):
    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        """Watch the body as it is read (see upload_complete); parses nothing itself."""
        self._watch = None
        self._files_seen = 0
        # A chunked body (captions.middleware) has no length of its own: its end is its closing
        # boundary, checked below.
        chunked = "chunked" in META.get("HTTP_TRANSFER_ENCODING", "").lower()
        self._content_length = 0 if chunked else content_length
        stream = getattr(input_data, "_stream", None)
        if stream is not None and boundary:
            self._watch = input_data._stream = _BodyWatch(stream, boundary)
        return None

    def upload_complete(self):
        """Every file part sent is a file of the request (stored or refused by name later), or
        the whole body is refused: a body cut short (a client gone mid-upload), one without its
        closing boundary (its last part cannot be known complete), or file parts the parser
        dropped (a name such as "." or "..", an unknown charset): never files lost in silence."""
        watch = getattr(self, "_watch", None)
        if watch is None:
            return None
        if watch.read_bytes < (self._content_length or 0):
            raise UploadCutOff(
                f"The upload ended after {watch.read_bytes} of its {self._content_length} bytes (the connection "
                "was closed); nothing of it was stored. Send it again."
            )
        if not watch.closed_properly():
            raise UploadCutOff(
                "The upload's body ended without its closing boundary, so its last file cannot be known "
                "complete; nothing of it was stored. Send it again."
            )
        dropped = len(watch.file_parts) - self._files_seen
        if dropped > 0:
            names = ", ".join(repr(name) for name in watch.file_parts[:20])
            raise UploadCutOff(
                f"{dropped} file part(s) could not be read (a file name such as '.' or '..', or in an unknown "
                f"charset); nothing of this upload was stored. Rename them and send again. Files sent: {names}"
            )
        return None

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self._received = 0
        self._files_seen = getattr(self, "_files_seen", 0) + 1

    def byte_limit(self, file_name: str) -> int:
        """The most bytes this file may have; views with other limits override this."""
        return settings.MAX_UPLOAD_BYTES

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self._received += len(raw_data)
        if self._received > self.byte_limit(self.file_name or ""):
            refused = getattr(self.request, "_oversize_uploads", None)
            if refused is None:
                refused = self.request._oversize_uploads = []
            refused.append(self.file_name or "(unnamed file)")
            raise SkipFile()
        return raw_data

    def file_complete(self, file_size: int):
        return None


def archive_byte_limit(file_name: str) -> int:
    """The most bytes a file of an upload that takes .zip archives may have: BATCH_MAX_ZIP_BYTES
    for an archive (its members then obey MAX_UPLOAD_BYTES), MAX_UPLOAD_BYTES for anything else."""
    return settings.BATCH_MAX_ZIP_BYTES if file_name.lower().endswith(".zip") else settings.MAX_UPLOAD_BYTES


class ArchiveSizeLimitedUploadHandler(SizeLimitedUploadHandler):
    """SizeLimitedUploadHandler for uploads that take .zip archives (the web upload form)."""

    def byte_limit(self, file_name: str) -> int:
        return archive_byte_limit(file_name)


def archive_upload_handlers_install(request: HttpRequest) -> None:
    """Let this request's .zip files be as large as BATCH_MAX_ZIP_BYTES. Call it before anything
    reads request.POST or request.FILES (the CSRF check does: see captions.views.gallery)."""
    request.upload_handlers = [
        ArchiveSizeLimitedUploadHandler(request) if isinstance(handler, SizeLimitedUploadHandler) else handler
        for handler in request.upload_handlers
    ]


# --- File names in multipart headers -------------------------------------------------------------

# The name given to a file part sent with an empty filename (filename=""). image_submit replaces it
# with a generated name; an empty part with this name is a file input left empty (what browsers
# send), not a file.
UNNAMED_UPLOAD = "unnamed-upload"
_EMPTY_FILENAME = re.compile(rb'(;\s*filename\s*=\s*)""', re.IGNORECASE)


def _header_line_utf8(line: bytes) -> bytes:
    """A part header line as UTF-8: browsers send UTF-8 (WHATWG HTML, multipart/form-data); older
    clients send the machine's code page (Shift_JIS, GBK, Windows-1251...) or ISO-8859-1, HTTP's
    historic header charset (RFC 9110 section 5.5), which Django cannot decode and drops the whole
    part for (the file vanished without a word). Those are decoded as zip member names are
    (:func:`legacy_encoding`)."""
    try:
        line.decode("utf-8")
        return line
    except UnicodeDecodeError:
        return legacy_names_decode([line])[0].encode("utf-8")


def _rewrite_part_header(header: bytes) -> bytes:
    lines = [_header_line_utf8(line) for line in header.split(b"\r\n")]
    for index, line in enumerate(lines):
        if line.lower().startswith(b"content-disposition:"):
            lines[index] = _EMPTY_FILENAME.sub(rb'\1"' + UNNAMED_UPLOAD.encode() + rb'"', line)
    return b"\r\n".join(lines)


def _parse_boundary_stream(stream, max_header_size):
    """django.http.multipartparser.parse_boundary_stream, with the part's header made readable
    first (_rewrite_part_header): Latin-1 file names are kept, an empty filename is a file."""
    size = 1024
    while size <= max_header_size:
        chunk = stream.read(size)
        end = chunk.find(b"\r\n\r\n")
        if end != -1:
            stream.unget(_rewrite_part_header(chunk[:end]) + chunk[end:])
            break
        stream.unget(chunk)
        if len(chunk) < size:
            break
        size *= 2
    return _django_parse_boundary_stream(stream, max_header_size)


_django_parse_boundary_stream = multipartparser.parse_boundary_stream


def multipart_file_names_install() -> None:
    """Make Django's multipart parser (used by the forms and by DRF) keep files whose name is
    Latin-1 or empty; called once from CaptionsConfig.ready(). Idempotent."""
    multipartparser.parse_boundary_stream = _parse_boundary_stream


# --- Names in legacy encodings (zip members written without the UTF-8 flag, raw multipart names) ---

# Code pages a legacy name may be in, most likely first (ties go to the earlier): the DOS/OEM pages
# Windows' own zip writes (Western, Cyrillic, Central European, Greek, Hebrew) and the Windows
# ANSI pages other archivers and old browsers use, the East Asian ones included (Shift_JIS, GBK,
# Big5, Korean).
DEFAULT_LEGACY_NAME_ENCODINGS = (
    "cp437", "cp850", "cp1252", "cp866", "cp1251", "cp932", "gbk", "cp949", "big5", "cp852",
    "cp1253", "cp737", "cp1255", "cp862",
)
# Letters of the alphabets a legacy name may be in, most frequent first (mis-decoded bytes give
# letters of some alphabet too, but rarely the frequent ones).
_LETTERS_BY_FREQUENCY = (
    "оеаинтсрвлкмдпуяыьгзбчйхжшюцщэфъё",
    "αοειτνσςρηπκμλυωγδθχφβξζψ",
    "יוהלארתבמשנדעכקחפםןצגסזטךףץ",
    "éàèçóíáäöüñúâêôßøåæœãõ",
)
_LETTER_WEIGHT = {
    ch: (1.2 if rank < 5 else 1.0 if rank < 10 else 0.6 if rank < 15 else 0.3)
    for letters in _LETTERS_BY_FREQUENCY for rank, ch in enumerate(letters)
}
_WORD_BREAKS = set(" ._-/\\()[]{}0123456789")


def _script(ch: str) -> str:
    import unicodedata

    name = unicodedata.name(ch, "")
    if name.startswith(("CJK", "HIRAGANA", "KATAKANA")) and not name.startswith("HALFWIDTH"):
        return "cjk"
    return name.split(" ", 1)[0].lower()


def _common_han(ch: str) -> bool:
    """A Han character of the common sets: GB2312 level 1, Big5's frequent block, JIS level 1."""
    for codec, low, high in (("gb2312", 0xB0A1, 0xD7FE), ("big5", 0xA440, 0xC67E), ("shift_jis", 0x889F, 0x9872)):
        try:
            code = int.from_bytes(ch.encode(codec), "big")
        except UnicodeEncodeError:
            continue
        if low <= code <= high:
            return True
    return False


def _plausibility(text: str) -> float:
    """How much ``text`` reads like a name a person typed (higher is better): letters of one
    alphabet per word, frequent letters, common Han and Hangul characters, words in one case
    (lower, upper or capitalised), accented Latin letters beside plain ones; symbols, controls,
    box drawing and half-width katakana count against."""
    import unicodedata

    score = 0.0
    word: list[str] = []
    for ch in text + " ":
        if ch in _WORD_BREAKS or (ch.isascii() and not ch.isalpha()):
            score += _word_plausibility(word, unicodedata)
            word = []
        else:
            word.append(ch)
    return score


def _word_plausibility(word: list[str], unicodedata) -> float:
    if not word or all(ch.isascii() for ch in word):
        return 0.0
    score = 0.0
    scripts = set()
    letters = [ch for ch in word if ch.isalpha()]
    ascii_letters = sum(ch.isascii() for ch in letters)
    for ch in word:
        if ch.isascii():
            continue
        category = unicodedata.category(ch)
        script = _script(ch)
        if category[0] in "CZ" or script in ("box", "halfwidth", "private"):
            score -= 2
            continue
        if category[0] != "L":
            score -= 1
            continue
        scripts.add(script)
        if script == "cjk":
            score += 1 if (not unicodedata.name(ch, "").startswith("CJK") or _common_han(ch)) else -0.5
        elif script == "hangul":
            try:
                ch.encode("euc_kr")
                score += 1.3
            except UnicodeEncodeError:
                score -= 0.5
        elif script == "latin" and not ascii_letters and len(letters) > 1:
            score -= 0.5  # accented letters without a plain one: another alphabet mis-read
        else:
            score += _letter_weight(ch, unicodedata)
    if ascii_letters:
        scripts.add("latin")
    score -= 1.5 * (len(scripts) - 1) if scripts else 0
    cased = "".join(ch for ch in letters if ch.lower() != ch.upper())
    if cased and not (cased.islower() or cased.isupper() or (cased[0].isupper() and cased[1:].islower())):
        score -= len(cased)
    return score


def _letter_weight(ch: str, unicodedata) -> float:
    lower = ch.lower()
    if lower in _LETTER_WEIGHT:
        return _LETTER_WEIGHT[lower]
    parts = unicodedata.normalize("NFD", lower)
    if len(parts) == 2 and parts[1] == "\u0301":  # Greek tonos, Latin acute: the base letter's weight
        return _LETTER_WEIGHT.get(parts[0], 0.3)
    return 0.3


def legacy_encoding(raw_names: list[bytes], candidates=None) -> str:
    """The encoding of names sent as bytes without a declared charset, judged on all of them
    together: ``ascii``, ``utf-8`` when they are valid UTF-8 (macOS, Linux and 7-Zip write UTF-8
    without saying so), else the candidate code page (DEFAULT_LEGACY_NAME_ENCODINGS, or the
    ZIP_LEGACY_NAME_ENCODINGS setting) that decodes them all into the most plausible text."""
    joined = b"\n".join(raw_names)
    if joined.isascii():
        return "ascii"
    try:
        joined.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    if candidates is None:
        candidates = getattr(settings, "ZIP_LEGACY_NAME_ENCODINGS", None) or DEFAULT_LEGACY_NAME_ENCODINGS
    best, best_score = "cp437", float("-inf")
    for encoding in candidates:
        try:
            text = joined.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
        score = _plausibility(text)
        if score > best_score:
            best, best_score = encoding, score
    return best


def legacy_names_decode(raw_names: list[bytes]) -> list[str]:
    """``raw_names`` decoded with their :func:`legacy_encoding` (cp437 for a name it cannot decode)."""
    encoding = legacy_encoding(raw_names)
    names = []
    for raw in raw_names:
        try:
            names.append(raw.decode(encoding))
        except UnicodeDecodeError:
            names.append(raw.decode("cp437"))
    return names


# WHATWG HTML's multipart/form-data encoding (Chromium, Safari) writes a file name's '"', CR and LF
# as %22, %0D and %0A; undone in the name a file keeps.
_BROWSER_ESCAPES = {"%22": '"', "%0D": " ", "%0A": " ", "%0d": " ", "%0a": " "}


def browser_escapes_undo(name: str) -> str:
    """``name`` with the escapes browsers put in multipart file names undone (``%22`` -> ``"``)."""
    for escaped, plain in _BROWSER_ESCAPES.items():
        name = name.replace(escaped, plain)
    return name


# --- What image_submit reads: one file at a time ---------------------------------------------------


class SourceRefused(Exception):
    """A file to submit cannot be read (too large, damaged archive member...); the message says why."""


class UploadSource:
    """One file to submit: `name` (what the person called it), `display_name` (how refusals name
    it, e.g. ``photos.zip/beach.jpg``), `size` in bytes when known beforehand, and `open()`, a
    context manager yielding a seekable binary file positioned at the start. Nothing is read
    before open(); what open() gives is released when its block ends."""

    def __init__(self, name: str, *, display_name: str | None = None, size: int | None = None):
        self.name = name
        self.display_name = display_name or name
        self.size = size

    @property
    def stored_name(self) -> str:
        """The file name the image keeps (Image.original_filename, the exports' `src`): the base
        name of what the client called it (a browser's `C:\\fakepath\\a.jpg` -> `a.jpg`); "" when
        it has none."""
        return posixpath.basename((self.name or "").replace("\\", "/"))

    def open(self):  # pragma: no cover - abstract
        raise NotImplementedError


class UploadedFileSource(UploadSource):
    """An UploadedFile from the request (in memory or in FILE_UPLOAD_TEMP_DIR) as an UploadSource."""

    def __init__(self, upload):
        name = browser_escapes_undo(upload.name or "")
        super().__init__(name, size=upload.size)
        self.upload = upload

    @contextlib.contextmanager
    def open(self):
        handle = self.upload.file
        handle.seek(0)
        yield handle
