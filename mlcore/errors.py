"""Exceptions raised by mlcore (no Django, no heavy imports).

Messages say what went wrong in mlcore's own terms (the spec, the folder, the hub id, the
environment variable); they carry no advice specific to a host application (no settings names,
no management commands, no UI buttons): the host adds its own hint, e.g. from ``err.spec``.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["MLCoreError", "ModelLoadError", "InvalidParams", "FailureKind", "failure_kind_of"]


class FailureKind(StrEnum):
    """Why an image was not captioned, as a host matches on it (never on class names or messages)."""

    NO_WORDS = "no_words"  #: the model produced no words for the image
    ENGINE_UNAVAILABLE = "engine_unavailable"  #: a remote engine / every member of a chain failed
    IMAGE_UNREADABLE = "image_unreadable"  #: the image could not be decoded or was refused
    UNSUPPORTED_STYLE = "unsupported_style"  #: the model cannot write the style or language asked
    INVALID_PARAMS = "invalid_params"  #: a generation parameter is unusable
    MODEL_UNAVAILABLE = "model_unavailable"  #: the model could not be loaded
    MODEL_ERROR = "model_error"  #: anything else the model raised (out of memory included)


class MLCoreError(Exception):
    """Base class of mlcore's own errors. ``kind``: the FailureKind a host records for it."""

    kind: FailureKind = FailureKind.MODEL_ERROR


def failure_kind_of(exc: BaseException) -> FailureKind:
    """The FailureKind of any exception raised while captioning: an mlcore error's own ``kind``; an
    image the decoder refused (Pillow's UnidentifiedImageError, DecompressionBombError) is
    IMAGE_UNREADABLE; anything else MODEL_ERROR."""
    if isinstance(exc, MLCoreError):
        return exc.kind
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:  # pragma: no cover - Pillow is a dependency
        return FailureKind.MODEL_ERROR
    if isinstance(exc, (UnidentifiedImageError, Image.DecompressionBombError)):
        return FailureKind.IMAGE_UNREADABLE
    return FailureKind.MODEL_ERROR


class ModelLoadError(MLCoreError):
    """A captioning model could not be loaded.

    ``reason``: what went wrong (also ``str(err)``); ``spec``: the model spec as given (or None).
    """

    kind = FailureKind.MODEL_UNAVAILABLE

    def __init__(self, message: str, spec: str | None = None):
        self.spec = spec
        self.reason = message
        super().__init__(message)


class InvalidParams(MLCoreError, ValueError):
    """A generation parameter is missing, of the wrong type or out of range.

    ``errors``: every field at fault and what is wrong with it; ``field`` and ``message``: the first.
    """

    kind = FailureKind.INVALID_PARAMS

    def __init__(self, field: str, message: str, errors: dict[str, str] | None = None):
        self.field = field
        self.message = message
        self.errors = dict(errors) if errors else {field: message}
        super().__init__("; ".join(f"{name}: {text}" for name, text in self.errors.items()))

    @classmethod
    def of(cls, errors: dict[str, str]) -> InvalidParams:
        """One error naming all of ``errors`` (field -> message, at least one)."""
        field, message = next(iter(errors.items()))
        return cls(field, message, errors)

    def to_dict(self) -> dict:
        return {"field": self.field, "message": self.message, "errors": dict(self.errors)}
