"""Decoding of untrusted image bytes: the one place that decides what counts as an image.

The type comes from Pillow's parsers restricted to an explicit allowlist, never from the file
name or Content-Type. The image is decoded fully once, under a pixel limit, so truncated files
and decompression bombs are refused before anything is stored. The rules themselves live in
mlcore.images (the one loader shared with the worker, evaluation and training); this module keeps
the upload-facing names and refusal type.
"""

from dataclasses import dataclass

from django.conf import settings
from PIL import Image as PILImage

from mlcore import images as mlimages
from mlcore.errors import FailureKind, MLCoreError
from mlcore.images import (
    ALLOWED_FORMATS,
    FORMAT_EXTENSIONS,
    ImageLoadError,
    decoded_pixels,
    header_of,
    load_image,
    load_image_isolated,
)

__all__ = ["ALLOWED_FORMATS", "FORMAT_EXTENSIONS", "DecodedImage", "ImageRejected", "decode_image", "make_thumbnail"]


class ImageRejected(MLCoreError):
    """The bytes are not an image we accept; the message says why, for the person who sent it.
    Its ``kind`` is mlcore's FailureKind.IMAGE_UNREADABLE."""

    kind = FailureKind.IMAGE_UNREADABLE


@dataclass(frozen=True)
class DecodedImage:
    image: PILImage.Image  # RGB, EXIF orientation applied
    format: str
    width: int
    height: int


def decode_image(data, *, max_pixels: int, target_size: int | None = None, fit: int | None = None) -> DecodedImage:
    """Upload validation and the worker's decode of `data` (bytes, a path, or a seekable binary
    file at its start: read in place, never copied whole): mlcore.images.load_image (format allowlist,
    pixel and aspect limits (MAX_IMAGE_ASPECT_RATIO), colour profiles to sRGB, EXIF orientation,
    full tonal range, transparency onto white) with its refusals raised as ImageRejected. MPO
    camera JPEGs come back as format "JPEG".

    Memory: an image whose decoding holds more than DECODE_IN_PROCESS_MAX_PIXELS pixels at once
    (mlcore.images.decoded_pixels: a baseline JPEG is scaled while it decodes; PNG, WebP, TIFF,
    AVIF, HEIF and progressive JPEG are decoded whole) is decoded in a child process (mlcore.images.load_image_isolated), which sends back only the
    reduced image (with `fit`, shrunk to fit inside fit x fit): this process never holds it whole.
    DECODE_CHILD_MAX_BYTES caps the child's address space: a decode beyond it is refused."""
    header = header_of(data)
    isolate = (
        header is not None
        and header[1] * header[2] <= max_pixels
        and decoded_pixels(*header, target_size) > settings.DECODE_IN_PROCESS_MAX_PIXELS
    )
    try:
        if isolate:
            loaded = load_image_isolated(data, max_pixels=max_pixels, target_size=target_size,
                                         max_aspect=settings.MAX_IMAGE_ASPECT_RATIO, fit=fit,
                                         memory_limit_bytes=settings.DECODE_CHILD_MAX_BYTES or None)
        else:
            loaded = load_image(data, max_pixels=max_pixels, target_size=target_size,
                                max_aspect=settings.MAX_IMAGE_ASPECT_RATIO)
    except ImageLoadError as error:
        raise ImageRejected(str(error)) from None
    return DecodedImage(image=loaded.image, format=loaded.format, width=loaded.width, height=loaded.height)


def make_thumbnail(image: PILImage.Image, *, size: int) -> bytes:
    """A JPEG thumbnail inside size x size pixels (see mlcore.images.make_thumbnail)."""
    return mlimages.make_thumbnail(image, size)
