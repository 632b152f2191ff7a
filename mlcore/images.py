"""The one image loader: bytes, a path or a file object -> an 8-bit RGB PIL image.

Every path that turns a file into pixels for a model uses :func:`load_image` (upload validation,
the worker, evaluation, fine-tuning, the in-house training, ``caption_folder``), so a model is
trained, evaluated and served on the same pixels. Plain Python + Pillow (numpy only for high
bit depths); no Django, no transformers import.

Rules, in the order they are applied:

1. Format: Pillow's parsers restricted to :data:`ALLOWED_FORMATS`; the name or Content-Type of a
   file is never trusted. ``MPO`` (the multi-picture JPEG that phones and cameras write, with an
   MPF APP2 segment) is a JPEG: its first picture is used and its format is reported as
   ``"JPEG"``. Considered and left out: ``JPEG2000`` (a different codec, OpenJPEG, that browsers do
   not display), ``DIB`` (a BMP without its file header, only seen inside ICO/CUR), ``AVIF`` and
   the rest of Pillow's readers (rare, or legacy parsers with a large attack surface).
2. Size, from the header and before any pixel is decoded: more than ``max_pixels`` pixels is
   refused, and so is an aspect ratio beyond ``max_aspect`` (default :data:`MAX_ASPECT_RATIO`,
   20:1). Refusing is our choice over padding: a 100000x1 strip padded to 20:1 is a blank page
   with a line, whose caption would be noise; refusing says why. Decompression bombs (Pillow's
   own limit) are refused too.
3. Decoding, once. With ``target_size`` (the edge the model's processor needs, see
   :func:`processor_target_size`) JPEGs are decoded by libjpeg at 1/2, 1/4 or 1/8 scale
   (``Image.draft``) to the smallest size whose shorter side is still >= ``target_size``, and any
   image is then reduced with ``Image.reduce`` by the largest integer factor that keeps the
   shorter side >= ``target_size``; the decoded image is therefore less than 2x what the processor
   needs on each side, whatever the photo size. Truncated files are refused, never padded grey.
4. EXIF orientation (tag 0x0112, values 2-8) is read defensively and applied with
   ``Image.transpose``: a broken EXIF block (for example XResolution stored as ASCII, which makes
   ``ImageOps.exif_transpose`` raise ``TypeError``) never refuses an image; an orientation that
   cannot be read leaves the image unrotated and adds a flag.
5. Colour: every mode becomes 8-bit RGB with its full tonal range (:func:`to_rgb`); anything with
   alpha or a transparent palette entry is composited onto WHITE, as on a page.
"""

from __future__ import annotations

import io
import logging
import math
import os
import struct
from dataclasses import dataclass, field
from typing import IO, Any, Union

from PIL import Image, ImageFile, UnidentifiedImageError
from PIL import features as _pil_features

from . import colour
from .errors import FailureKind, MLCoreError

__all__ = [
    "ALLOWED_FORMATS",
    "FORMAT_NAMES",
    "FORMAT_EXTENSIONS",
    "FORMAT_ALIASES",
    "LOADER_VERSION",
    "accepted_formats_text",
    "MAX_ASPECT_RATIO",
    "DEFAULT_MAX_PIXELS",
    "ImageLoadError",
    "LoadedImage",
    "load_image",
    "load_image_isolated",
    "header_of",
    "decoded_pixels",
    "to_rgb",
    "apply_orientation",
    "make_thumbnail",
    "processor_target_size",
    "captioner_target_size",
    "tile_elongated",
    "arrange_for_captioner",
]

# The one list of accepted formats. AVIF is Pillow's own reader (libavif, when Pillow was built
# with it); HEIF/HEIC is pillow-heif's (libheif), registered here when installed.
_BASE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
try:
    import pillow_heif as _pillow_heif

    _pillow_heif.register_heif_opener()
    _HEIF = ("HEIF",)
except ImportError:  # the product says which formats it takes; HEIF is then not among them
    _HEIF = ()
_AVIF = ("AVIF",) if _pil_features.check("avif") else ()
ALLOWED_FORMATS: tuple[str, ...] = _BASE_FORMATS + _AVIF + _HEIF
# How people call them, and the extension a stored file gets.
FORMAT_NAMES: dict[str, str] = {
    "JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "GIF": "GIF", "BMP": "BMP", "TIFF": "TIFF",
    "AVIF": "AVIF", "HEIF": "HEIC/HEIF",
}
FORMAT_EXTENSIONS: dict[str, str] = {
    "JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tiff",
    "AVIF": "avif", "HEIF": "heic",
}
# Pillow format names that are another name for an allowed format (the first picture is used).
FORMAT_ALIASES: dict[str, str] = {"MPO": "JPEG"}
# Images more elongated than this are refused (MAX_IMAGE_ASPECT_RATIO in the site's settings):
# full-page screenshots, panoramas and receipts are well within it.
MAX_ASPECT_RATIO = 100.0
# Bumped whenever a change to this module changes the pixels it returns for some file (colour
# management, a decoder fix): the caption cache key includes it, so such files are captioned again.
LOADER_VERSION = 2
# For trusted local files (evaluation, training): Pillow's own decompression-bomb threshold.
DEFAULT_MAX_PIXELS = int(Image.MAX_IMAGE_PIXELS or 89_478_485)
# Pillow refuses, in Image.open and before any caller can judge the header, images of more than
# twice Image.MAX_IMAGE_PIXELS (179 MP by default): a 200 MP phone photo. Every caller of this
# module passes its own max_pixels, checked from the header; Pillow's net is lifted to 1 gigapixel
# (it still catches what reaches Pillow some other way) and, by load_image, to its max_pixels.
_PILLOW_BOMB_WARNING_PIXELS = 500_000_000
if Image.MAX_IMAGE_PIXELS and Image.MAX_IMAGE_PIXELS < _PILLOW_BOMB_WARNING_PIXELS:
    Image.MAX_IMAGE_PIXELS = _PILLOW_BOMB_WARNING_PIXELS

# Truncated files are refused, never silently padded with grey (this is Pillow's default; a host
# that flips it globally would make truncated files load, so it is pinned here).
ImageFile.LOAD_TRUNCATED_IMAGES = False

# EXIF orientation -> the transpose that displays the image upright (EXIF 2.3, tag 0x0112).
_ORIENTATION_OPS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_REDUCIBLE_MODES = {"L", "LA", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB", "HSV", "I", "F"}
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}

logger = logging.getLogger(__name__)
# What Pillow's parsers raise on bad bytes; anything else is refused too, but logged with its trace.
_EXPECTED_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, struct.error)

Source = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]", IO[bytes]]


class ImageLoadError(MLCoreError, ValueError):
    """The input is not an image we accept. ``str(err)`` (and ``err.reason``) is one sentence for
    the person who sent the file; ``err.code`` is a stable machine name: ``empty``,
    ``unidentified``, ``format``, ``too-many-pixels``, ``aspect``, ``damaged``."""

    kind = FailureKind.IMAGE_UNREADABLE

    def __init__(self, reason: str, code: str = "invalid"):
        self.reason = reason
        self.code = code
        super().__init__(reason)


@dataclass(frozen=True)
class LoadedImage:
    """The result of :func:`load_image`.

    ``image``: PIL image, mode ``RGB``, 8 bits per channel, upright. It may be smaller than
    ``width`` x ``height`` when ``target_size`` asked for a reduced decode.
    ``format``: the normalised Pillow format (``"JPEG"`` for MPO), one of :data:`ALLOWED_FORMATS`.
    ``width``, ``height``: the full-resolution size as displayed (after EXIF orientation), pixels.
    ``source_mode``: the Pillow mode of the file's pixels (``"I;16"``, ``"P"``, ``"CMYK"``, ...).
    ``orientation``: the EXIF orientation applied (1 = none).
    ``flags``: notes about what was done or could not be done, e.g. ``"exif-unreadable"``,
    ``"exif-orientation-invalid"``, ``"alpha-flattened"``, ``"rescaled-high-bit-depth"``,
    ``"reduced"``, ``"first-frame"``.
    """

    image: Image.Image
    format: str
    width: int
    height: int
    source_mode: str
    orientation: int = 1
    flags: tuple[str, ...] = field(default_factory=tuple)


def load_image(
    source: Source,
    *,
    max_pixels: int,
    target_size: int | None = None,
    max_aspect: float | None = MAX_ASPECT_RATIO,
) -> LoadedImage:
    """Decode ``source`` (bytes, a filesystem path, or a binary file object positioned at the
    start) into an upright 8-bit RGB image; see the module docstring for the rules.

    ``max_pixels``: refuse images of more pixels than this (width x height from the header).
    ``target_size``: the shorter edge, in pixels, the consumer needs (e.g. 384 for BLIP); the
    image is decoded/reduced to a shorter side in [target_size, 2*target_size) when it is larger.
    ``None`` decodes at full resolution. ``max_aspect``: refuse when max(w, h) / min(w, h) exceeds
    it (``None``: no limit; keep it on for anything that reaches a processor).

    Raises :class:`ImageLoadError` with a human sentence; never pads, never returns a non-RGB image.
    ``OSError`` from opening a path that does not exist is re-raised as is (it is not the image's
    fault).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ImageLoadError("The file is empty.", "empty")
        return _load(io.BytesIO(bytes(source)), max_pixels, target_size, max_aspect)
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as handle:
            if os.fstat(handle.fileno()).st_size == 0:
                raise ImageLoadError("The file is empty.", "empty")
            return _load(handle, max_pixels, target_size, max_aspect)
    if hasattr(source, "read"):
        if hasattr(source, "seekable") and source.seekable():
            start = source.tell()
            empty = not source.read(1)
            source.seek(start)
            if empty:
                raise ImageLoadError("The file is empty.", "empty")
        return _load(source, max_pixels, target_size, max_aspect)
    raise TypeError(f"load_image takes bytes, a path or a binary file object, not {type(source).__name__}")


def header_of(source: Source) -> tuple[str, int, int, bool] | None:
    """(format, width, height, progressive) from the file's header, nothing decoded; None when no
    accepted reader opens it. A file object is left at its start."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as handle:
            return _header_of_file(handle)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _header_of_file(io.BytesIO(source))
    return _header_of_file(source)


def _header_of_file(handle) -> tuple[str, int, int, bool] | None:
    start = handle.tell()
    try:
        with Image.open(_NoClose(handle), formats=ALLOWED_FORMATS) as opened:
            fmt = FORMAT_ALIASES.get(opened.format or "", opened.format or "")
            progressive = bool(opened.info.get("progressive") or opened.info.get("progression"))
            return fmt, opened.size[0], opened.size[1], progressive
    except Exception:
        return None
    finally:
        handle.seek(start)


class _NoClose(io.RawIOBase):
    """A view of a binary file that Pillow may close without closing the file."""

    def __init__(self, handle):
        self._handle = handle

    def readable(self):
        return True

    def seekable(self):
        return True

    def read(self, size=-1):
        return self._handle.read(size)

    def readinto(self, buffer):
        data = self._handle.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset, whence=os.SEEK_SET):
        return self._handle.seek(offset, whence)

    def tell(self):
        return self._handle.tell()


def decoded_pixels(fmt: str, width: int, height: int, progressive: bool, target_size: int | None) -> int:
    """About how many pixels :func:`load_image` holds at once to decode this image at
    ``target_size``: a baseline JPEG is scaled by libjpeg while it decodes (by 1/2 to 1/8 a side);
    other formats (PNG, WebP, TIFF, AVIF, HEIF...) and progressive JPEGs (whose coefficients are
    all kept until the last scan) are decoded whole before they are reduced."""
    if fmt != "JPEG" or progressive or not target_size:
        return width * height
    scale = 1
    while scale < 8 and min(width, height) / (scale * 2) >= target_size:
        scale *= 2
    return math.ceil(width / scale) * math.ceil(height / scale)


def load_image_isolated(
    source: Source,
    *,
    max_pixels: int,
    target_size: int | None = None,
    max_aspect: float | None = MAX_ASPECT_RATIO,
    fit: int | None = None,
    timeout: float = 600,
    memory_limit_bytes: int | None = None,
) -> LoadedImage:
    """:func:`load_image` in a child process, so that the caller never holds the full-size image:
    the child decodes, reduces (and, with ``fit``, shrinks to fit inside ``fit`` x ``fit``) and
    sends back only the result; its memory is returned to the system when it exits. The same
    refusals as :func:`load_image`; a child that dies (killed for memory, say) is a refusal with
    code ``resources``. ``memory_limit_bytes``: the child's address-space limit (RLIMIT_AS), so
    that a decode beyond it fails in the child instead of pressing on the host. Costs a process
    start (about 0.2 s): for big images only."""
    import json
    import shutil
    import subprocess
    import sys

    args = json.dumps({"max_pixels": max_pixels, "target_size": target_size, "max_aspect": max_aspect, "fit": fit,
                       "memory_limit_bytes": memory_limit_bytes})
    child = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "mlcore._isolated_decode", args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    try:
        try:
            if isinstance(source, (bytes, bytearray, memoryview)):
                child.stdin.write(bytes(source))
            elif isinstance(source, (str, os.PathLike)):
                with open(source, "rb") as handle:
                    shutil.copyfileobj(handle, child.stdin, 1024 * 1024)
            else:
                start = source.tell()
                shutil.copyfileobj(source, child.stdin, 1024 * 1024)
                source.seek(start)
            child.stdin.close()
        except BrokenPipeError:
            pass
        header_line = child.stdout.readline()
        header = json.loads(header_line) if header_line.strip() else None
        if header is not None and "error" in header:
            raise ImageLoadError(header["error"], header["code"])
        if header is None:
            child.wait(timeout)
            raise ImageLoadError(
                "The image could not be decoded within this server's resources (the decoder stopped).", "resources"
            )
        width, height = header["size"]
        pixels = child.stdout.read(width * height * 3)
        if child.wait(timeout) != 0 or len(pixels) != width * height * 3:
            raise ImageLoadError(
                "The image could not be decoded within this server's resources (the decoder stopped).", "resources"
            )
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
    return LoadedImage(
        image=Image.frombytes("RGB", (width, height), pixels), format=header["format"], width=header["width"],
        height=header["height"], source_mode=header["source_mode"], orientation=header["orientation"],
        flags=tuple(header["flags"]) + ("decoded-in-child",),
    )


def _refuse_size(width: int, height: int, max_pixels: int, max_aspect: float | None) -> None:
    if width < 1 or height < 1:
        raise ImageLoadError(f"The image has no pixels ({width}x{height}).", "damaged")
    if width * height > max_pixels:
        raise ImageLoadError(
            f"The image is {width}x{height} pixels ({width * height / 1e6:.1f} megapixels); "
            f"the limit is {max_pixels / 1e6:.0f} megapixels.",
            "too-many-pixels",
        )
    if max_aspect is not None and max(width, height) / min(width, height) > max_aspect:
        raise ImageLoadError(
            f"The image is {width}x{height} pixels: one side is more than {max_aspect:g} times the other, "
            f"and images of such extreme proportions cannot be captioned.",
            "aspect",
        )


def accepted_formats_text() -> str:
    """The accepted formats as one phrase: "JPEG, PNG, WebP, GIF, BMP, TIFF, AVIF and HEIC/HEIF"."""
    names = [FORMAT_NAMES.get(fmt, fmt) for fmt in ALLOWED_FORMATS]
    return ", ".join(names[:-1]) + " and " + names[-1]


# Signatures of formats, accepted or not, so that a refusal can name what the file is.
def _sniff(head: bytes) -> str | None:
    """The format the first bytes of a file announce (a Pillow name for accepted ones), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head.startswith(b"BM"):
        return "BMP"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "AVIF"
        if brand in (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"mif2"):
            return "HEIF"
        if brand in (b"jxl ",):
            return "JPEG XL"
        return "a video or another ISO media file"
    if head.startswith(b"\xff\x0a") or head.startswith(b"\x00\x00\x00\x0cJXL "):
        return "JPEG XL"
    if head.startswith(b"\x00\x00\x00\x0cjP  ") or head.startswith(b"\xff\x4f\xff\x51"):
        return "JPEG 2000"
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if head.startswith(b"8BPS"):
        return "a Photoshop document (PSD)"
    if head.lstrip()[:5].lower() in (b"<?xml", b"<svg ", b"<svg>"):
        return "an SVG or XML document"
    if head.startswith(b"\x00\x00\x01\x00"):
        return "an icon (ICO)"
    return None


def _refuse_unidentified(fp: IO[bytes], start: int) -> ImageLoadError:
    """The refusal for a file no accepted reader opened, naming what the file is: a damaged file
    of an accepted format is called damaged (never "accepted formats are ..." with its own format
    among them); another format is named."""
    fp.seek(start)
    head = fp.read(32)
    fp.seek(start)
    kind = _sniff(head)
    accepted = accepted_formats_text()
    if kind in ALLOWED_FORMATS:
        detail = ""
        plugin = Image.OPEN.get(kind)
        if plugin is not None:
            try:
                plugin[0](fp).close()
            except Exception as error:  # the reader's own words say what is wrong
                detail = f" ({error or type(error).__name__})"
            fp.seek(start)
        return ImageLoadError(
            f"The file is a {FORMAT_NAMES[kind]} image, but a damaged or unsupported kind that cannot be "
            f"decoded{detail}.", "damaged",
        )
    if kind in ("AVIF", "HEIF"):
        return ImageLoadError(
            f"{FORMAT_NAMES[kind]} images cannot be decoded on this server (its image libraries lack "
            f"{FORMAT_NAMES[kind]} support): accepted formats are {accepted}.", "format",
        )
    if kind:
        return ImageLoadError(f"The file is {kind if ' ' in kind else 'a ' + kind + ' image'}, which is not "
                              f"accepted: accepted formats are {accepted}.", "format")
    return ImageLoadError(f"Not a supported image: accepted formats are {accepted}.", "unidentified")


def _load(fp: IO[bytes], max_pixels: int, target_size: int | None, max_aspect: float | None) -> LoadedImage:
    flags: list[str] = []
    if Image.MAX_IMAGE_PIXELS and max_pixels > Image.MAX_IMAGE_PIXELS:
        # Pillow's own bomb check runs in Image.open, before our limit can be applied from the
        # header; it must not be stricter than the limit the caller chose (raised, never lowered).
        Image.MAX_IMAGE_PIXELS = max_pixels
    start = fp.tell()
    head = fp.read(32)
    fp.seek(start)
    sniffed = _sniff(head)
    png_chunks: dict = {}
    spool = None
    if sniffed == "PNG":
        try:
            png_chunks = colour.png_colour_chunks(fp)
            spool = _png_repair(fp, flags)
        except Exception:  # the decoder below meets the same problem and says what it is
            fp.seek(start)
        if spool is not None:
            fp, start = spool, 0
    try:
        return _decode(fp, start, sniffed, png_chunks, flags, max_pixels, target_size, max_aspect)
    finally:
        if spool is not None:
            spool.close()


def _decode(fp, start, sniffed, png_chunks, flags, max_pixels, target_size, max_aspect) -> LoadedImage:
    eoi_added = False
    while True:
        try:
            loaded = _decode_once(fp, png_chunks, list(flags), max_pixels, target_size, max_aspect)
        except _Truncated as truncated:
            if sniffed == "JPEG" and not eoi_added and _jpeg_lacks_end_marker(fp, start) and not _progressive(fp, start):
                # A baseline JPEG whose data is whole but whose end marker (FFD9) is missing, which
                # some phones' panorama modes write: browsers show it, so do we. Not a progressive
                # JPEG: one cut short in a later scan decodes as a whole but blurred picture, which
                # cannot be told from a complete one here, so it stays refused.
                fp.seek(start)
                fp = _WithSuffix(fp, b"\xff\xd9")
                start = 0
                eoi_added = True
                continue
            raise ImageLoadError(
                f"The image is damaged or truncated and cannot be decoded ({truncated.detail}).", "damaged"
            ) from None
        except _Unidentified:
            raise _refuse_unidentified(fp, start) from None
        if eoi_added:
            if _grey_filled_bottom(loaded.image):
                # libjpeg fills the rows it got no data for with mid grey: the data was cut short.
                raise ImageLoadError(
                    "The image is damaged or truncated and cannot be decoded (image file is truncated).", "damaged"
                )
            loaded = LoadedImage(**{**loaded.__dict__, "flags": loaded.flags + ("jpeg-end-marker-missing",)})
        return loaded


class _Truncated(Exception):
    def __init__(self, detail: str):
        self.detail = detail


class _Unidentified(Exception):
    pass


def _decode_once(fp, png_chunks, flags, max_pixels, target_size, max_aspect) -> LoadedImage:
    try:
        # No warnings.catch_warnings here: it mutates process-wide state and is not thread-safe
        # (a prefetch thread may decode while the model runs). Pillow's bomb *error* (2x its limit)
        # is caught below; our own max_pixels check from the header refuses everything else.
        opened = Image.open(fp, formats=ALLOWED_FORMATS)  # MPO is opened by the JPEG reader
        fmt = FORMAT_ALIASES.get(opened.format or "", opened.format or "")
        if fmt not in ALLOWED_FORMATS:
            raise ImageLoadError(f"Unsupported image format {opened.format}.", "format")
        width, height = opened.size
        _refuse_size(width, height, max_pixels, max_aspect)
        source_mode = opened.mode
        if opened.format in FORMAT_ALIASES:
            flags.append("first-frame")  # an MPO's first picture is the photo; animations start at frame 0
        if target_size and fmt == "JPEG":
            short = min(width, height)
            if short > target_size:
                # draft picks the largest 1/2^k scale whose result is >= the requested size.
                want = (math.ceil(width * target_size / short), math.ceil(height * target_size / short))
                opened.draft(opened.mode if opened.mode in ("CMYK", "L") else "RGB", want)
        try:
            opened.load()
        except OSError as error:
            if "truncated" in str(error):
                raise _Truncated(str(error)) from None
            raise
        orientation = _read_orientation(opened, flags)
        icc, _origin = colour.declared_profile(opened, png_chunks, flags)
        image: Image.Image = opened
        if target_size:
            image = _reduce(image, target_size, flags)
        image = colour.to_srgb(image, icc, flags)
        image = to_rgb(image, flags)
        image = apply_orientation(image, orientation)
        if image is not opened:
            opened.close()  # the returned image no longer needs the file
    except (ImageLoadError, _Truncated):
        raise
    except UnidentifiedImageError:
        raise _Unidentified() from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageLoadError(
            f"The image is too large to decode safely (limit {max_pixels / 1e6:.0f} megapixels).", "too-many-pixels"
        ) from None
    except MemoryError:
        raise
    except Exception as error:  # any parser failure on untrusted bytes is a damaged file, not a crash
        if not isinstance(error, _EXPECTED_DECODE_ERRORS):
            logger.warning("Unexpected %s while decoding an image; refused as damaged", type(error).__name__,
                           exc_info=True)
        raise ImageLoadError(
            f"The image is damaged or truncated and cannot be decoded ({error or type(error).__name__}).", "damaged"
        ) from None
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return LoadedImage(
        image=image, format=fmt, width=width, height=height, source_mode=source_mode,
        orientation=orientation, flags=tuple(flags),
    )


def _jpeg_lacks_end_marker(fp, start: int) -> bool:
    fp.seek(0, os.SEEK_END)
    end = fp.tell()
    if end - start < 4:
        return False
    fp.seek(end - 2)
    tail = fp.read(2)
    fp.seek(start)
    return tail != b"\xff\xd9"


def _progressive(fp, start: int) -> bool:
    fp.seek(start)
    header = header_of(fp)
    fp.seek(start)
    return header is None or header[3]


def _grey_filled_bottom(image: Image.Image) -> bool:
    """True when the image's last rows are all libjpeg's fill colour (128, 128, 128)."""
    rows = min(8, image.height)
    strip = image.crop((0, image.height - rows, image.width, image.height))
    return strip.getextrema() == ((128, 128),) * len(strip.getbands())


class _WithSuffix(io.RawIOBase):
    """A read-only, seekable view of ``fp`` (from its current position) followed by ``suffix``."""

    def __init__(self, fp, suffix: bytes):
        self._fp = fp
        self._base = fp.tell()
        fp.seek(0, os.SEEK_END)
        self._length = fp.tell() - self._base
        fp.seek(self._base)
        self._suffix = suffix
        self._pos = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, offset, whence=os.SEEK_SET):
        size = self._length + len(self._suffix)
        self._pos = max(0, offset if whence == os.SEEK_SET else (self._pos + offset if whence == os.SEEK_CUR else size + offset))
        return self._pos

    def readinto(self, buffer):
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size=-1):
        total = self._length + len(self._suffix)
        if size is None or size < 0:
            size = total - self._pos
        size = max(0, min(size, total - self._pos))
        out = b""
        if self._pos < self._length and size:
            self._fp.seek(self._base + self._pos)
            out = self._fp.read(min(size, self._length - self._pos))
        rest = size - len(out)
        if rest > 0:
            offset = self._pos + len(out) - self._length
            out += self._suffix[offset: offset + rest]
        self._pos += len(out)
        return out


# PNG chunks a browser ignores when they are broken: a bad checksum on an ancillary chunk, or a
# compressed text chunk (XMP, comments) that unpacks to more than Pillow reads (MAX_TEXT_CHUNK).
_PNG_TEXT_CHUNKS = (b"zTXt", b"iTXt", b"tEXt")


def _png_repair(fp, flags: list[str]):
    """None when the PNG's chunks are sound; otherwise a temporary copy without the ancillary
    chunks that would make Pillow refuse a file a browser displays (flag ``png-chunks-skipped``).
    Critical chunks (IHDR, PLTE, IDAT, IEND) are never dropped: a bad checksum there is damage."""
    import tempfile
    import zlib

    from PIL import PngImagePlugin

    start = fp.tell()
    drop: list[tuple[int, int]] = []
    try:
        fp.seek(start + 8)
        while True:
            pos = fp.tell()
            head = fp.read(8)
            if len(head) < 8:
                break
            length, cid = struct.unpack(">I4s", head)
            ancillary = bool(cid[0] & 0x20)
            if cid == b"IEND" or not ancillary:
                fp.seek(length + 4, 1)
                if cid == b"IEND":
                    break
                continue
            data = fp.read(length)
            crc = fp.read(4)
            if len(data) < length or len(crc) < 4:
                break
            bad = struct.unpack(">I", crc)[0] != zlib.crc32(cid + data) & 0xFFFFFFFF
            if not bad and cid in (b"zTXt", b"iTXt"):
                bad = _compressed_text_too_large(cid, data, PngImagePlugin.MAX_TEXT_CHUNK)
            if bad:
                drop.append((pos, pos + 12 + length))
    finally:
        fp.seek(start)
    if not drop:
        return None
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 (closed by _load)
    fp.seek(start)
    position = start
    for begin, end in drop + [(None, None)]:
        remaining = None if begin is None else begin - position
        while remaining is None or remaining > 0:
            chunk = fp.read(1 << 20 if remaining is None else min(1 << 20, remaining))
            if not chunk:
                break
            spool.write(chunk)
            if remaining is not None:
                remaining -= len(chunk)
        if begin is None:
            break
        fp.seek(end)
        position = end
    fp.seek(start)
    spool.seek(0)
    flags.append("png-chunks-skipped")
    return spool


def _compressed_text_too_large(cid: bytes, data: bytes, limit: int) -> bool:
    import zlib

    try:
        if cid == b"zTXt":
            _, rest = data.split(b"\0", 1)
            compressed = rest[1:]
        else:
            _, rest = data.split(b"\0", 1)
            if not rest or rest[0] != 1:
                return len(rest) > limit
            parts = rest[2:].split(b"\0", 2)
            compressed = parts[2] if len(parts) == 3 else b""
        inflater = zlib.decompressobj()
        inflater.decompress(compressed, limit + 1)
        return bool(inflater.unconsumed_tail)
    except (ValueError, zlib.error):
        return True


def _read_orientation(image: Image.Image, flags: list[str]) -> int:
    """The EXIF orientation (1-8), read defensively: 1 when absent; 1 plus a flag when unreadable."""
    try:
        exif = image.getexif()
        value = exif.get(0x0112)
    except Exception:  # a broken EXIF block is the file's problem, never the caller's
        flags.append("exif-unreadable")
        return 1
    if len(exif) == 0 and len(image.info.get("exif") or b"") > 6:
        flags.append("exif-unreadable")  # an EXIF block is there but nothing could be parsed
    if value is None:
        return 1
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    try:
        orientation = int(value)
    except (TypeError, ValueError):
        orientation = 0
    if orientation not in range(1, 9):
        flags.append("exif-orientation-invalid")
        return 1
    return orientation


def apply_orientation(image: Image.Image, orientation: int) -> Image.Image:
    """``image`` displayed upright for EXIF ``orientation`` (1-8; anything else: unchanged)."""
    op = _ORIENTATION_OPS.get(orientation)
    return image.transpose(op) if op is not None else image


def _reduce(image: Image.Image, target_size: int, flags: list[str]) -> Image.Image:
    factor = min(image.size) // target_size
    if factor < 2:
        return image
    if image.mode not in _REDUCIBLE_MODES:
        image = to_rgb(image, flags)  # 1, P and I;16 cannot be reduced directly
    flags.append("reduced")
    return image.reduce(factor)


def to_rgb(image: Image.Image, flags: list[str] | None = None) -> Image.Image:
    """``image`` as 8-bit RGB with its full tonal range; alpha/tRNS composited onto white.

    * ``I;16``, ``I;16B``, ``I;16L``, ``I;16N``: nominal 16-bit range, value / 257 (rounded).
    * ``I`` (32-bit int) and ``F`` (float): the smallest nominal range that holds the data,
      0..1 (float only), 0..255, 0..65535, else the image's own min..max; a ramp spans 0..255.
    * ``1``, ``L``, ``P``, ``CMYK``, ``YCbCr``, ``HSV``: Pillow's conversions; ``LAB``: through
      ImageCms (CIE L*a*b* D50 -> sRGB).
    * ``RGBA``, ``LA``, ``PA``, ``RGBa``, ``La``, and ``P``/``L``/``RGB`` with a ``transparency``
      entry: composited onto white.
    """
    notes = flags if flags is not None else []
    mode = image.mode
    if mode == "RGB" and "transparency" not in image.info:
        return image
    if mode.startswith("I;16") or mode in ("I", "F"):
        notes.append("rescaled-high-bit-depth")
        return _high_bit_depth_to_l(image).convert("RGB")
    if mode in _ALPHA_MODES or "transparency" in image.info:
        if mode == "La":
            image = image.convert("LA")  # premultiplied: Pillow converts La only to LA
        rgba = image.convert("RGBA")
        if rgba.getextrema()[3][0] == 255:
            return rgba.convert("RGB")
        notes.append("alpha-flattened")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if mode == "LAB":
        try:
            from PIL import ImageCms

            transform = ImageCms.buildTransform(
                ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"
            )
            return ImageCms.applyTransform(image, transform)
        except ImportError:  # Pillow built without littlecms: channel copy, better than nothing
            notes.append("lab-approximate")
    return image.convert("RGB")


def _high_bit_depth_to_l(image: Image.Image) -> Image.Image:
    import numpy as np

    if image.mode.startswith("I;16"):
        values = np.asarray(image).astype(np.float64)
        lo, hi = 0.0, 65535.0
    else:
        values = np.asarray(image).astype(np.float64)
        finite = values[np.isfinite(values)]
        vmin = float(finite.min()) if finite.size else 0.0
        vmax = float(finite.max()) if finite.size else 0.0
        if image.mode == "F" and vmin >= 0.0 and vmax <= 1.0:
            lo, hi = 0.0, 1.0
        elif vmin >= 0.0 and vmax <= 255.0:
            lo, hi = 0.0, 255.0
        elif vmin >= 0.0 and vmax <= 65535.0:
            lo, hi = 0.0, 65535.0
        else:
            lo, hi = vmin, vmax
        values = np.nan_to_num(values, nan=lo, posinf=hi, neginf=lo)
    scaled = np.clip(values, 0, 255) if hi <= lo else (values - lo) * (255.0 / (hi - lo))
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), mode="L")


def make_thumbnail(image: LoadedImage | Image.Image, size: int, *, quality: int = 85) -> bytes:
    """A JPEG (bytes) of ``image`` fitted inside ``size`` x ``size`` pixels, aspect kept, tonal
    range kept (a non-RGB PIL image goes through :func:`to_rgb` first). The input is not modified."""
    picture = image.image if isinstance(image, LoadedImage) else to_rgb(image)
    if picture is (image.image if isinstance(image, LoadedImage) else image):
        picture = picture.copy()
    picture.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def _get(size: Any, key: str) -> Any:
    if isinstance(size, dict):
        return size.get(key)
    return getattr(size, key, None)


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def processor_target_size(image_processor: Any) -> int | None:
    """The shorter edge (pixels) a transformers image processor needs, read from its ``size``:
    ``{"shortest_edge": n}`` -> n; ``{"height": h, "width": w}`` -> min(h, w); ``{"longest_edge":
    n}`` -> n (conservative: the shorter side is kept >= n); an int -> itself. Processors that
    bound a pixel count (Qwen2-VL style: a ``max_pixels`` attribute, or, as transformers 5 keeps it, a
    ``size`` whose ``longest_edge`` is ``max_pixels`` on a processor with a ``temporal_patch_size``)
    -> ceil(sqrt(max_pixels)): the resized image has at most that many pixels, so neither side needs
    more. ``None`` when the need cannot be read (decode at full size). Does not import transformers."""
    if image_processor is None:
        return None
    inner = getattr(image_processor, "image_processor", None)
    if inner is not None and inner is not image_processor:
        return processor_target_size(inner)
    size = getattr(image_processor, "size", None)
    max_px = getattr(image_processor, "max_pixels", None)
    if not _positive(max_px) and getattr(image_processor, "temporal_patch_size", None) and size is not None:
        max_px = _get(size, "max_pixels") or _get(size, "longest_edge")
    if _positive(max_px):
        return math.ceil(math.sqrt(max_px))
    if isinstance(size, (int, float)) and not isinstance(size, bool) and size > 0:
        return int(size)
    if size is None:
        return None
    shortest = _get(size, "shortest_edge")
    height, width = _get(size, "height"), _get(size, "width")
    longest = _get(size, "longest_edge")
    if height and width:
        return int(min(height, width))
    if shortest:
        return int(shortest)
    if longest:
        return int(longest)
    return None


# Beyond this aspect ratio an image is tiled for processors that resize to a fixed shape.
TILE_ABOVE_ASPECT = 3.0
_TILE_GUTTER = 8


def _processor_of(captioner: Any) -> Any:
    for attr in ("image_processor", "processor"):
        found = getattr(captioner, attr, None)
        if found is not None:
            inner = getattr(found, "image_processor", None)
            return inner if inner is not None else found
    return None


def _dynamic_resolution(processor: Any) -> bool:
    """True for processors that keep an image's shape (Qwen2-VL style: a pixel budget)."""
    return bool(_positive(getattr(processor, "max_pixels", None)) or getattr(processor, "temporal_patch_size", None))


def tile_elongated(image: Image.Image, *, above_aspect: float = TILE_ABOVE_ASPECT) -> Image.Image:
    """A panorama or a full-page screenshot rearranged for a processor that resizes every image to
    one fixed shape (BLIP's 384x384, ViT's 224x224), which would squash a 20:1 image into a smear:
    the image is cut along its long side into n consecutive segments (n = round(sqrt(aspect))),
    laid out in reading order (a wide image as rows, top to bottom; a tall one as columns, left to
    right) on white with a gutter of 8 pixels, so that the result is close to square and nothing is
    resized. Images within ``above_aspect`` are returned as they are."""
    width, height = image.size
    aspect = max(width, height) / min(width, height)
    if aspect <= above_aspect:
        return image
    count = max(2, round(math.sqrt(aspect)))
    wide = width >= height
    long_side = width if wide else height
    step = math.ceil(long_side / count)
    short = height if wide else width
    size = (step, count * short + (count - 1) * _TILE_GUTTER) if wide else (count * short + (count - 1) * _TILE_GUTTER, step)
    canvas = Image.new("RGB", size, (255, 255, 255))
    for index in range(count):
        start = index * step
        if start >= long_side:
            break
        box = (start, 0, min(start + step, width), height) if wide else (0, start, width, min(start + step, height))
        offset = index * (short + _TILE_GUTTER)
        canvas.paste(image.crop(box), (0, offset) if wide else (offset, 0))
    return canvas


def arrange_for_captioner(image: Image.Image, captioner: Any) -> Image.Image:
    """``image`` as ``captioner``'s processor needs it: tiled (:func:`tile_elongated`) when it is
    more elongated than TILE_ABOVE_ASPECT and the processor resizes to a fixed shape; unchanged
    for processors that keep an image's shape (a pixel budget, Qwen2-VL style), for ensembles
    (their members get the image as it is) and when the processor is unknown."""
    processor = _processor_of(captioner)
    if processor is None or _dynamic_resolution(processor):
        return image
    return tile_elongated(image)


def captioner_target_size(captioner: Any) -> int | None:
    """The shorter edge a captioner's preprocessing needs: its ``image_processor`` (HF
    captioners), its ``config.image_size`` (the in-house model), the largest of its ``members``
    (ensembles; ``None`` if any member's is unknown); ``None`` when unknown."""
    if captioner is None:
        return None
    members = getattr(captioner, "members", None)
    if members:
        sizes = [captioner_target_size(m) for m in members]
        return None if any(s is None for s in sizes) else max(sizes)
    for attr in ("image_processor", "processor"):
        found = processor_target_size(getattr(captioner, attr, None))
        if found:
            return found
    image_size = getattr(getattr(captioner, "config", None), "image_size", None)
    if isinstance(image_size, int) and image_size > 0:
        return image_size
    return None
