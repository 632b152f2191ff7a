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

from .errors import FailureKind, MLCoreError

__all__ = [
    "ALLOWED_FORMATS",
    "FORMAT_ALIASES",
    "MAX_ASPECT_RATIO",
    "DEFAULT_MAX_PIXELS",
    "ImageLoadError",
    "LoadedImage",
    "load_image",
    "to_rgb",
    "apply_orientation",
    "make_thumbnail",
    "processor_target_size",
    "captioner_target_size",
]

ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
# Pillow format names that are another name for an allowed format (the first picture is used).
FORMAT_ALIASES: dict[str, str] = {"MPO": "JPEG"}
MAX_ASPECT_RATIO = 20.0
# For trusted local files (evaluation, training): Pillow's own decompression-bomb threshold.
DEFAULT_MAX_PIXELS = int(Image.MAX_IMAGE_PIXELS or 89_478_485)

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


def _load(fp: IO[bytes], max_pixels: int, target_size: int | None, max_aspect: float | None) -> LoadedImage:
    flags: list[str] = []
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
                opened.draft("RGB", want)
        opened.load()
        orientation = _read_orientation(opened, flags)
        image: Image.Image = opened
        if target_size:
            image = _reduce(image, target_size, flags)
        image = to_rgb(image, flags)
        image = apply_orientation(image, orientation)
        if image is not opened:
            opened.close()  # the returned image no longer needs the file
    except ImageLoadError:
        raise
    except UnidentifiedImageError:
        raise ImageLoadError(
            "Not a supported image: accepted formats are JPEG, PNG, WebP, GIF, BMP and TIFF.", "unidentified"
        ) from None
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
