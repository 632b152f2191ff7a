"""What remote engines and fallback chains share: the "engine unavailable" error and the event hook.

Pure Python (no torch, no prometheus): the host registers a listener to count events per engine.

    from mlcore.engines import add_engine_listener
    def count(event: str, engine: str, info: dict) -> None:
        ENGINE_EVENTS.labels(engine=engine, event=event).inc()     # the host's own metric
    add_engine_listener(count)

Events (``info`` keys in brackets):

* ``request_ok``      one HTTP request answered [status, seconds, attempts]
* ``request_retry``   a retryable failure, retried after a back-off [status|error, attempt, delay_s]
* ``request_failed``  a request given up [status|error, attempts]
* ``engine_failed``   a fallback member could not caption some images [error, images]
* ``fallback_used``   a later fallback member captioned images [images, after]

A listener that raises is logged and ignored: it can never fail a caption.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from .errors import FailureKind, MLCoreError

__all__ = ["EngineUnavailable", "EngineListener", "add_engine_listener", "remove_engine_listener", "emit"]

log = logging.getLogger(__name__)

EngineListener = Callable[[str, str, dict], None]
_LISTENERS: list[EngineListener] = []
_LOCK = threading.Lock()


class EngineUnavailable(MLCoreError):
    """An engine could not caption some (or all) images of a call.

    ``failures``: {image index: reason}; ``partial``: one entry per input image, the CaptionResult
    for the images that did get a caption and None for the failed ones (nothing is silently lost:
    every index is either in ``failures`` or has a result). ``engine``: the engine's model_id.
    """

    kind = FailureKind.ENGINE_UNAVAILABLE

    def __init__(self, engine: str, failures: dict[int, str], partial: list[Any] | None = None):
        self.engine = engine
        self.failures = dict(failures)
        self.partial = list(partial) if partial is not None else []
        n = len(self.partial) or len(self.failures)
        first = next(iter(self.failures.values()), "unknown error")
        super().__init__(
            f"{engine}: {len(self.failures)} of {n} image(s) not captioned: {first}"
        )


def add_engine_listener(listener: EngineListener) -> None:
    """Register ``listener(event, engine, info)``; process-wide, thread-safe, idempotent."""
    with _LOCK:
        if listener not in _LISTENERS:
            _LISTENERS.append(listener)


def remove_engine_listener(listener: EngineListener) -> None:
    with _LOCK:
        if listener in _LISTENERS:
            _LISTENERS.remove(listener)


def emit(event: str, engine: str, **info: Any) -> None:
    """Call every listener; exceptions in listeners are logged, never raised."""
    with _LOCK:
        listeners = list(_LISTENERS)
    for fn in listeners:
        try:
            fn(event, engine, info)
        except Exception:  # noqa: BLE001 - a metrics hook must never break captioning
            log.exception("engine listener %r failed on %s", fn, event)
