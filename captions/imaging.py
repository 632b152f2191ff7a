"""Decoding of untrusted image bytes: the one place that decides what counts as an image.

The type comes from Pillow's parsers restricted to an explicit allowlist, never from the file
name or Content-Type. The image is decoded fully once, under a pixel limit, so truncated files
and decompression bombs are refused before anything is stored.
"""

import io
import warnings
from dataclasses import dataclass

from PIL import Image as PILImage
from PIL import ImageFile, ImageOps, UnidentifiedImageError

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
FORMAT_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tiff"}

# Truncated files are refused, never silently padded with grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False


class ImageRejected(Exception):
    """The bytes are not an image we accept; the message says why, for the person who sent it."""


@dataclass(frozen=True)
class DecodedImage:
    image: PILImage.Image  # RGB, EXIF orientation applied
    format: str
    width: int
    height: int


def decode_image(data: bytes, *, max_pixels: int) -> DecodedImage:
    if not data:
        raise ImageRejected("The file is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            opened = PILImage.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            if opened.format not in ALLOWED_FORMATS:
                raise ImageRejected(f"Unsupported image format {opened.format}.")
            width, height = opened.size
            if width * height > max_pixels:
                raise ImageRejected(
                    f"The image is {width}x{height} pixels ({width * height / 1e6:.1f} megapixels); "
                    f"the limit is {max_pixels / 1e6:.0f} megapixels."
                )
            if getattr(opened, "n_frames", 1) > 1:
                opened.seek(0)  # animations and multi-page TIFFs: the first frame is the image
            opened.load()
            oriented = ImageOps.exif_transpose(opened)
            rgb = _to_rgb(oriented)
    except ImageRejected:
        raise
    except UnidentifiedImageError:
        raise ImageRejected(
            "Not a supported image: accepted formats are JPEG, PNG, WebP, GIF, BMP and TIFF."
        ) from None
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
        raise ImageRejected(
            f"The image is too large to decode safely (limit {max_pixels / 1e6:.0f} megapixels)."
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError) as error:
        raise ImageRejected(f"The image is damaged or truncated and cannot be decoded ({error}).") from None
    return DecodedImage(image=rgb, format=opened.format, width=rgb.width, height=rgb.height)


def _to_rgb(image: PILImage.Image) -> PILImage.Image:
    if image.mode in ("RGBA", "LA", "P", "PA") or "transparency" in image.info:
        # Transparent areas become white, as they look on a page, instead of black.
        rgba = image.convert("RGBA")
        background = PILImage.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def make_thumbnail(image: PILImage.Image, *, size: int) -> bytes:
    thumb = image.copy()
    thumb.thumbnail((size, size), PILImage.Resampling.LANCZOS)
    buffer = io.BytesIO()
    thumb.save(buffer, format="JPEG", quality=85, optimize=True)
    return buffer.getvalue()
