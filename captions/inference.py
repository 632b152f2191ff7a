"""The worker's side of captioning: which captioner to use and how a stored image is read.

Only worker processes import this module's model code (mlcore.load_captioner keeps one loaded
model per process); the web process never calls it.
"""

import logging
import time

from django.conf import settings
from django.core.files.storage import default_storage

from captions.imaging import decode_image
from captions.models import Image
from core import metrics

logger = logging.getLogger(__name__)


class ModelUnavailable(Exception):
    """The configured model cannot be loaded; the message tells the operator what to do."""


# spec -> (monotonic time of the failure, reason). A model that could not be loaded is not tried
# again for CAPTION_MODEL_RETRY_SECONDS: a missing hub model can take minutes of network retries
# to fail, and every batch would pay that again.
_recent_failures: dict[str, tuple[float, str]] = {}


def captioner_for(spec: str):
    import mlcore

    failed = _recent_failures.get(spec)
    if failed and time.monotonic() - failed[0] < settings.CAPTION_MODEL_RETRY_SECONDS:
        raise ModelUnavailable(failed[1])
    started = time.perf_counter()
    try:
        captioner = mlcore.load_captioner(spec, device=settings.CAPTION_DEVICE, dtype=settings.CAPTION_DTYPE)
    except mlcore.ModelLoadError as error:
        _recent_failures[spec] = (time.monotonic(), str(error))
        raise ModelUnavailable(str(error)) from None
    _recent_failures.pop(spec, None)
    elapsed = time.perf_counter() - started
    if elapsed > 0.05:  # a cache hit returns in microseconds; anything slower was a real load
        metrics.observe_model_load(elapsed, captioner.model_id)
    if elapsed > 0.5:
        logger.info("Loaded caption model %s (%s) in %.1fs", captioner.model_id, captioner.model_version, elapsed)
    return captioner


def load_image_for_model(image: Image):
    with default_storage.open(image.file.name, "rb") as handle:
        data = handle.read()
    return decode_image(data, max_pixels=settings.MAX_IMAGE_PIXELS).image
