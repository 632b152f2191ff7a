"""Helpers of the worker tests: submit images, run one worker cycle in-process, and recognise the
"culprit" image (a magenta one) that a test's captioner treats specially."""

from django_q.tasks import async_task

from captions.caption_request import caption_request_check
from captions.services.submission import image_submit

CULPRIT = (255, 0, 255)  # the content a test's captioner cannot take (or leaves without words)


def submit(owner, *files, params=None):
    """The accepted Images of one image_submit of `files`."""
    request = caption_request_check(params or {}, owner=owner, offered_model=False)
    return image_submit(owner=owner, files=list(files), request=request).accepted


def run_task():
    """One caption_pending cycle, synchronously in this process."""
    return async_task("captions.tasks.caption_pending", sync=True)


def is_culprit(image) -> bool:
    """Whether a PIL image is a culprit (its centre pixel is CULPRIT)."""
    return image.convert("RGB").getpixel((image.width // 2, image.height // 2)) == CULPRIT
