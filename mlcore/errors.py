"""Exceptions raised by mlcore (no Django, no heavy imports)."""

from __future__ import annotations

__all__ = ["MLCoreError", "ModelLoadError", "InvalidParams", "fix_hint"]


def fix_hint(spec: str | None = None) -> str:
    """The standard "what to do" sentence appended to every model-load failure."""
    shown = spec if spec else "<spec>"
    return (
        "Set CAPTION_MODEL to a local folder made with save_pretrained, or fetch it on a "
        f"connected machine with `python manage.py model_fetch {shown}` and copy the HF cache / "
        "folder over (HF_HOME / HF_HUB_CACHE; set HF_HUB_OFFLINE=1 on machines without network)."
    )


class MLCoreError(Exception):
    """Base class of mlcore's own errors."""


class ModelLoadError(MLCoreError):
    """A captioning model could not be loaded. ``str(err)`` says what to do."""

    def __init__(self, message: str, spec: str | None = None):
        self.spec = spec
        self.reason = message
        if "model_fetch" not in message:
            message = f"{message.rstrip('. ')}. {fix_hint(spec)}"
        super().__init__(message)


class InvalidParams(MLCoreError, ValueError):
    """A generation parameter is missing, of the wrong type or out of range."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")

    def to_dict(self) -> dict:
        return {"field": self.field, "message": self.message}
