"""Upload validators (settings.UPLOAD_IMAGE_VALIDATORS) that tests plug in by dotted path."""

import time

from captions.imaging import ImageRejected


def explode_on_boom(loaded, name: str) -> None:
    """A bug: any file whose name contains 'boom' raises an unexpected exception."""
    if "boom" in name:
        raise ZeroDivisionError("division by zero in a validator")


def refuse_on_nsfw(loaded, name: str) -> None:
    if "nsfw" in name:
        raise ImageRejected("Refused by the content policy.")


def slow_on_slow(loaded, name: str) -> None:
    """Long enough for a test to kill the web worker while the request is being processed."""
    if "slow" in name:
        time.sleep(60)


# Called by stop_storage_on_stop (set by a test): takes the media storage down mid-request.
storage_stopper = None


def stop_storage_on_stop(loaded, name: str) -> None:
    """The media storage goes down while this file is processed (the earlier ones are written)."""
    if "stop" in name and storage_stopper is not None:
        storage_stopper()
