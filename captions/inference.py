"""The worker's side of captioning: which captioner to use and how a stored image is read.

Only worker processes import this module's model code (mlcore.load_captioner keeps one loaded
model per process); the web process never calls it.
"""

import contextlib
import logging
import time

from django.conf import settings
from django.core.files.storage import default_storage

from captions import metrics
from captions.imaging import decode_image
from captions.models import Image

logger = logging.getLogger(__name__)


class ModelUnavailable(Exception):
    """The configured model cannot be loaded; the message tells the operator what to do."""


# spec -> (monotonic time of the failure, reason). A model that could not be loaded is not tried
# again for CAPTION_MODEL_RETRY_SECONDS: a missing hub model can take minutes of network retries
# to fail, and every batch would pay that again.
_recent_failures: dict[str, tuple[float, str]] = {}


def model_load_hint(spec: str | None) -> str:
    """What an operator of this site does when a model cannot be loaded (mlcore gives the reason)."""
    shown = spec or "<spec>"
    return (
        "Set CAPTION_MODEL to a local folder made with save_pretrained, or fetch it on a "
        f"connected machine with `python manage.py model_fetch {shown}` and copy the HF cache / "
        "folder over (HF_HOME / HF_HUB_CACHE; set HF_HUB_OFFLINE=1 on machines without network)."
    )


def captioner_for(spec: str):
    import mlcore

    failed = _recent_failures.get(spec)
    if failed and time.monotonic() - failed[0] < settings.CAPTION_MODEL_RETRY_SECONDS:
        raise ModelUnavailable(failed[1])
    started = time.perf_counter()
    try:
        captioner = mlcore.load_captioner(spec, device=settings.CAPTION_DEVICE, dtype=settings.CAPTION_DTYPE)
    except mlcore.ModelLoadError as error:
        message = f"{error.reason.rstrip('. ')}. {model_load_hint(spec)}"
        _recent_failures[spec] = (time.monotonic(), message)
        # Once per load attempt (failures are remembered for CAPTION_MODEL_RETRY_SECONDS, and the
        # worker fails a whole batch on one attempt), never once per image.
        logger.warning(
            "Caption model %r could not be loaded; images that need it fail until it can be "
            "(next try in %ss): %s",
            spec, settings.CAPTION_MODEL_RETRY_SECONDS, message,
        )
        raise ModelUnavailable(message) from None
    _recent_failures.pop(spec, None)
    elapsed = time.perf_counter() - started
    if elapsed > 0.05:  # a cache hit returns in microseconds; anything slower was a real load
        metrics.observe_model_load(elapsed, captioner.model_id)
    if elapsed > 0.5:
        logger.info("Loaded caption model %s (%s) in %.1fs", captioner.model_id, captioner.model_version, elapsed)
    return captioner


def load_image_for_model(image: Image, captioner=None, *, timings: dict[str, float] | None = None):
    """The stored file of ``image`` as the RGB PIL image a model gets (mlcore.images.load_image).
    With ``captioner``, JPEGs are decoded at reduced scale to what its processor needs
    (mlcore.images.captioner_target_size); raises ImageRejected with the reason otherwise.
    With ``timings``, adds the milliseconds spent reading the file ("read_ms") and decoding it
    ("decode_ms") to that dict."""
    from mlcore.images import arrange_for_captioner, captioner_target_size

    started = time.perf_counter()
    with stored_open(image.file.name) as handle:
        # Read in place (a big file is not copied into memory whole; decode_image may stream it
        # to a child process): reading and decoding are one step, counted as decoding.
        read = time.perf_counter()
        pixels = _decode_stored(handle, target_size=captioner_target_size(captioner))
    if captioner is not None:
        pixels = arrange_for_captioner(pixels, captioner)  # panoramas tiled for fixed-shape processors
    if timings is not None:
        timings["read_ms"] = timings.get("read_ms", 0.0) + (read - started) * 1000
        timings["decode_ms"] = timings.get("decode_ms", 0.0) + (time.perf_counter() - read) * 1000
    return pixels


def stored_image_load(name: str, *, target_size: int | None = None):
    """The stored file ``name`` (relative to the media storage) as an RGB PIL image, decoded under
    MAX_IMAGE_PIXELS, JPEGs at reduced scale near ``target_size`` px (captions.imaging.decode_image);
    raises ImageRejected with the reason."""
    with stored_open(name) as handle:
        return _decode_stored(handle, target_size=target_size)


@contextlib.contextmanager
def stored_open(name: str):
    """The stored media file ``name`` (the local folder or the bucket) opened for reading. A
    missing file raises FileNotFoundError; the storage unreachable raises
    core.exceptions.StorageUnavailable (the caller retries later: the file itself is fine)."""
    from captions.services.media import storage_error

    try:
        handle = default_storage.open(name, "rb")
    except FileNotFoundError:
        raise
    except Exception as error:
        code = str((getattr(error, "response", None) or {}).get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchKey", "NotFound"):
            raise FileNotFoundError(name) from None
        raise storage_error(error, f"read {name}") from None
    with handle:
        yield handle


def _decode_stored(data, *, target_size: int | None):
    return decode_image(data, max_pixels=settings.MAX_IMAGE_PIXELS, target_size=target_size).image
