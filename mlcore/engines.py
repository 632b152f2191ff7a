"""What remote engines and fallback chains share: the "engine unavailable" error and their events.

Events are counted into Prometheus collectors defined here, where they happen
(``captionsite_engine_events_total{engine, event}``, ``captionsite_engine_images_total{engine, event}``;
the engine label is the spec without credentials a URL might carry). Pure Python otherwise: no torch;
prometheus_client is imported on the first event and, when it is not installed, nothing is counted.
``add_engine_listener`` lets a program that embeds mlcore see the same events as they happen
(``fn(event, engine, info)``); the site does not need one.

Events (``info`` keys in brackets):

* ``request_ok``      one HTTP request answered [status, seconds, attempts]
* ``request_retry``   a retryable failure, retried after a back-off [status|error, attempt, delay_s]
* ``request_failed``  a request given up [status|error, attempts]
* ``engine_failed``   a fallback member could not caption some images [error, images]
* ``fallback_used``   a later fallback member captioned images [images, after]

Neither counting nor a listener that raises can ever fail a caption (both are logged and ignored).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any

from .errors import FailureKind, MLCoreError

__all__ = ["EngineUnavailable", "EngineListener", "add_engine_listener", "remove_engine_listener", "emit",
           "engine_collectors"]

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


_COLLECTORS: tuple | None = None


def engine_collectors() -> tuple:
    """(events counter, images counter): the Prometheus collectors of engine events, created once in the
    process's default registry; () when prometheus_client is not installed."""
    global _COLLECTORS
    with _LOCK:
        if _COLLECTORS is None:
            try:
                from prometheus_client import Counter
            except ImportError:  # mlcore used without prometheus_client: nothing to count into
                _COLLECTORS = ()
            else:
                _COLLECTORS = (
                    Counter("captionsite_engine_events",
                            "Inference engine events (mlcore.engines): request_ok, request_retry, request_failed, "
                            "engine_failed, fallback_used, by engine spec.", ["engine", "event"]),
                    Counter("captionsite_engine_images",
                            "Images an engine could not caption (engine_failed) or captioned as a fallback "
                            "(fallback_used), by engine.", ["engine", "event"]),
                )
        return _COLLECTORS


def engine_label(engine: object) -> str:
    """The engine spec without credentials a URL might carry (user:password@)."""
    return re.sub(r"//[^/@#]*@", "//", str(engine or "unknown"))[:200]


def _count(event: str, engine: str, info: dict) -> None:
    collectors = engine_collectors()
    if not collectors:
        return
    events, images_counter = collectors
    label = engine_label(engine)
    events.labels(engine=label, event=event).inc()
    images = info.get("images")
    if event in ("engine_failed", "fallback_used") and images:
        count = len(images) if isinstance(images, (list, tuple, set)) else int(images)
        images_counter.labels(engine=label, event=event).inc(count)


def emit(event: str, engine: str, **info: Any) -> None:
    """Count the event and call every listener; errors in either are logged, never raised."""
    try:
        _count(event, engine, info)
    except Exception:  # noqa: BLE001 - a metric must never break captioning
        log.exception("could not count engine event %s", event)
    with _LOCK:
        listeners = list(_LISTENERS)
    for fn in listeners:
        try:
            fn(event, engine, info)
        except Exception:  # noqa: BLE001 - a metrics hook must never break captioning
            log.exception("engine listener %r failed on %s", fn, event)
