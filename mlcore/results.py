"""Result types returned by captioners (pure Python)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import FailureKind

__all__ = ["Candidate", "CaptionResult", "CaptionFailure", "CaptionOutcome", "FailureKind"]


@dataclass(frozen=True)
class Candidate:
    """One alternative caption with its (combined confidence) score in [0, 1]."""

    text: str
    score: float
    raw_text: str = ""
    sequence_score: float | None = None  # length-normalised mean token log-probability
    itm_score: float | None = None
    model_id: str | None = None  # set by ensembles: which member produced it

    def to_dict(self) -> dict[str, Any]:
        d = {"text": self.text, "score": round(float(self.score), 6)}
        if self.raw_text:
            d["raw_text"] = self.raw_text
        if self.sequence_score is not None:
            d["sequence_score"] = round(float(self.sequence_score), 6)
        if self.itm_score is not None:
            d["itm_score"] = round(float(self.itm_score), 6)
        if self.model_id is not None:
            d["model_id"] = self.model_id
        return d


@dataclass
class CaptionResult:
    """One image's caption. ``ok`` is False when the model produced no words for the image
    (``text == ""``, ``details["error"]`` says why): never store such a result as a caption;
    ``Captioner.caption_isolated`` turns it into a ``CaptionFailure``."""

    text: str
    raw_text: str
    confidence: float
    candidates: list[Candidate]
    model_id: str
    model_version: str
    timings: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # confidence components, flags
    #: caption style (mlcore.styles), BCP 47 language, the exact instruction sent to the model
    #: (None for prompt-less captioners) and, for the ``tags`` style, the keyword list
    style: str = "alt"
    language: str = "en"
    prompt: str | None = None
    tags: list[str] | None = None

    @property
    def ok(self) -> bool:
        return bool(self.text.strip())

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "raw_text": self.raw_text,
            "confidence": round(float(self.confidence), 6),
            "candidates": [c.to_dict() for c in self.candidates],
            "model_id": self.model_id,
            "model_version": self.model_version,
            "timings": {k: (v if isinstance(v, int) else round(float(v), 3)) for k, v in self.timings.items()},
            "details": self.details,
            "style": self.style,
            "language": self.language,
            "prompt": self.prompt,
            "tags": self.tags,
        }


@dataclass(frozen=True)
class CaptionFailure:
    """One image the captioner could not caption (``Captioner.caption_isolated``).

    ``reason``: never empty, e.g. "MemoryError: out of memory while captioning this image" or
    "the model produced no words for this image"; ``error_type``: the exception class name, or
    "EmptyCaption" (for people and logs); ``kind``: the typed FailureKind a host matches on;
    ``model_id``: the captioner's.
    """

    reason: str
    error_type: str
    model_id: str = ""
    kind: FailureKind = FailureKind.MODEL_ERROR

    @property
    def ok(self) -> bool:
        return False

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "error_type": self.error_type, "model_id": self.model_id,
                "kind": self.kind.value}


#: one image's outcome of Captioner.caption_isolated: a caption (``ok`` True) or a failure
CaptionOutcome = CaptionResult | CaptionFailure
