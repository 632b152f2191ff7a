"""Metrics hooks: the captioning and feedback code reports events here, and whoever collects
metrics (monitoring, at app ready) registers an observer. Lower layers never import the
collector, and with no observer registered every hook does nothing.

An observer is any object with some of the methods of `MetricsObserver`; a missing method is
skipped. Hooks never raise: a metrics problem must not fail a caption or a request.
"""

import logging
from typing import Protocol

logger = logging.getLogger(__name__)


class MetricsObserver(Protocol):
    def observe_http(self, *, view: str, method: str, status: int, seconds: float) -> None: ...

    def observe_caption(self, model_id: str, seconds: float | None, confidence: float | None, reused: bool) -> None: ...

    def observe_failure(self, model_id: str, final: bool = False) -> None: ...

    def observe_batch(self, size: int) -> None: ...

    def observe_model_load(self, seconds: float, model_id: str = "") -> None: ...

    def observe_rating(self, rating: int) -> None: ...


_observers: list = []


def observer_register(observer) -> None:
    """Add an observer (once: registering the same object again does nothing)."""
    if not any(existing is observer for existing in _observers):
        _observers.append(observer)


def observer_unregister(observer) -> None:
    _observers[:] = [existing for existing in _observers if existing is not observer]


def _notify(name: str, *args, **kwargs) -> None:
    for observer in list(_observers):
        method = getattr(observer, name, None)
        if method is None:
            continue
        try:
            method(*args, **kwargs)
        except Exception:
            logger.exception("The metrics observer %r failed on %s", observer, name)


def observe_http(*, view: str, method: str, status: int, seconds: float) -> None:
    """One HTTP request answered: its view name, method, status code and latency in seconds."""
    _notify("observe_http", view=view, method=method, status=status, seconds=seconds)


def observe_caption(model_id: str, seconds: float | None, confidence: float | None, reused: bool) -> None:
    """One caption written: computed by the model (reused=False, `seconds` of inference) or
    copied from the cache (reused=True)."""
    _notify("observe_caption", model_id, seconds, confidence, reused)


def observe_failure(model_id: str, final: bool = False) -> None:
    """One failed captioning attempt with `model_id` (final: the image failed for good)."""
    _notify("observe_failure", model_id, final=final)


def observe_batch(size: int) -> None:
    """One batched model call over `size` images."""
    _notify("observe_batch", size)


def observe_model_load(seconds: float, model_id: str = "") -> None:
    """A caption model loaded into a worker in `seconds`."""
    _notify("observe_model_load", seconds, model_id)


def observe_rating(rating: int) -> None:
    """One feedback rating (1-5 stars) given."""
    _notify("observe_rating", rating)
