"""Exceptions raised by mlcore (no Django, no heavy imports).

Messages say what went wrong in mlcore's own terms (the spec, the folder, the hub id, the
environment variable); they carry no advice specific to a host application (no settings names,
no management commands, no UI buttons): the host adds its own hint, e.g. from ``err.spec``.
"""

from __future__ import annotations

__all__ = ["MLCoreError", "ModelLoadError", "InvalidParams"]


class MLCoreError(Exception):
    """Base class of mlcore's own errors."""


class ModelLoadError(MLCoreError):
    """A captioning model could not be loaded.

    ``reason``: what went wrong (also ``str(err)``); ``spec``: the model spec as given (or None).
    """

    def __init__(self, message: str, spec: str | None = None):
        self.spec = spec
        self.reason = message
        super().__init__(message)


class InvalidParams(MLCoreError, ValueError):
    """A generation parameter is missing, of the wrong type or out of range.

    ``errors``: every field at fault and what is wrong with it; ``field`` and ``message``: the first.
    """

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
