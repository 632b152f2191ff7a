"""Generation parameters (validated) and model specs.

Pure Python: importing this module does not import torch or transformers.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .errors import InvalidParams

__all__ = ["GenerationParams", "ModelSpec", "PARAM_RANGES", "PARAM_FIELDS", "ParamRange", "check_param"]


@dataclass(frozen=True)
class ParamRange:
    """One generation parameter: its type, range, default and plain-words label and help.

    ``min`` is inclusive unless ``min_inclusive`` is False; ``max`` is always inclusive; both are
    None for booleans. Iterating gives the legacy 4-tuple ``(kind, min, max, min_inclusive)``.
    """

    kind: type
    min: float | None
    max: float | None
    min_inclusive: bool
    default: Any
    label: str
    help: str

    def __iter__(self):
        return iter((self.kind, self.min, self.max, self.min_inclusive))

    def range_text(self, name: str) -> str:
        """e.g. '1 ≤ num_beams ≤ 10', '0.0 < top_p ≤ 1.0' ('' for booleans)."""
        if self.min is None or self.max is None:
            return ""
        return f"{self.min} {'≤' if self.min_inclusive else '<'} {name} ≤ {self.max}"

    def contains(self, value: float) -> bool:
        if self.min is not None and (value < self.min or (value == self.min and not self.min_inclusive)):
            return False
        return not (self.max is not None and value > self.max)


#: The numeric generation parameters (the single source of their ranges and defaults: the
#: GenerationParams fields take their defaults from here and validate against it; forms and API
#: schemas derive their fields from it). Cross-field rules, checked by GenerationParams too:
#: min_length <= max_length; without sampling, num_alternatives <= num_beams.
PARAM_RANGES: dict[str, ParamRange] = {
    "num_beams": ParamRange(int, 1, 10, True, 3, "Beams",
                            "How many captions beam search keeps exploring; more is slower and often better."),
    "max_length": ParamRange(int, 5, 100, True, 40, "Maximum length", "Most tokens a caption may have."),
    "min_length": ParamRange(int, 0, 100, True, 5, "Minimum length",
                             "Fewest tokens a caption must have (at most the maximum length)."),
    "temperature": ParamRange(float, 0.1, 2.0, True, 1.0, "Temperature",
                              "When sampling: below 1 plays safe, above 1 takes more chances."),
    "top_p": ParamRange(float, 0.0, 1.0, False, 1.0, "Top-p",
                        "When sampling: only the most likely words whose chances add up to this are drawn."),
    "length_penalty": ParamRange(float, -2.0, 2.0, True, 1.0, "Length preference",
                                 "With beams: above 0 favours longer captions, below 0 shorter ones."),
    "repetition_penalty": ParamRange(float, 1.0, 2.0, True, 1.2, "Repetition penalty",
                                     "1 allows repeated words; higher discourages them."),
    "no_repeat_ngram_size": ParamRange(int, 0, 10, True, 0, "No repeated phrases of",
                                       "Never repeat a phrase of this many tokens (0: no limit)."),
    "num_alternatives": ParamRange(int, 1, 5, True, 1, "Alternatives",
                                   "How many different captions to return (at most the beams when not sampling)."),
}

#: Every GenerationParams field: PARAM_RANGES plus the boolean ``do_sample``.
PARAM_FIELDS: dict[str, ParamRange] = {
    **PARAM_RANGES,
    "do_sample": ParamRange(bool, None, None, True, False, "Sample",
                            "Draw words at random (uses temperature and top-p) instead of searching."),
}

_CACHE_KEY_VERSION = "gp1"


def check_param(name: str, value: Any) -> tuple[Any, str | None]:
    """One PARAM_RANGES parameter alone: (the value as its type, None), or (value, what is wrong).
    A whole float is taken for an int; a bool is no number."""
    spec = PARAM_RANGES[name]
    if spec.kind is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        elif isinstance(value, bool) or not isinstance(value, int):
            return value, f"must be an integer, got {value!r}"
    else:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return value, f"must be a number, got {value!r}"
        value = float(value)
        if not math.isfinite(value):
            return value, f"must be a finite number, got {value!r}"
    if not spec.contains(value):
        low = f"{spec.min}" if spec.min_inclusive else f"more than {spec.min}"
        return value, f"must be between {low} and {spec.max}, got {value!r}"
    return value, None


def _default(name: str) -> Any:
    return PARAM_FIELDS[name].default


#: field -> the fields its cross-field rule compares (itself included): the rule is judged only
#: where all of them are valid (a caller that refused one of them itself leaves the rule out).
CROSS_FIELD_RULES: dict[str, frozenset[str]] = {
    "min_length": frozenset({"min_length", "max_length"}),
    "num_alternatives": frozenset({"num_alternatives", "num_beams", "do_sample"}),
}


@dataclass(frozen=True)
class GenerationParams:
    """How captions are generated. Validated on construction against ``PARAM_RANGES``; raises
    InvalidParams naming every field at fault (``errors``; ``field``/``message``: the first).

    Lengths count caption tokens (new tokens), not the prompt, for every architecture.
    """

    num_beams: int = _default("num_beams")
    max_length: int = _default("max_length")
    min_length: int = _default("min_length")
    do_sample: bool = _default("do_sample")
    temperature: float = _default("temperature")
    top_p: float = _default("top_p")
    length_penalty: float = _default("length_penalty")
    repetition_penalty: float = _default("repetition_penalty")
    no_repeat_ngram_size: int = _default("no_repeat_ngram_size")
    num_alternatives: int = _default("num_alternatives")
    #: caption style name (mlcore.styles: alt | description | tags | a registered custom style)
    style: str = "alt"
    #: BCP 47 language tag the caption is written in (canonicalised: 'pt-br' -> 'pt-BR')
    language: str = "en"
    #: what the image is for (mlcore.alttext.PURPOSES: informative | decorative | functional |
    #: complex | text), where it appears (free text), and what a functional image's link or
    #: button does; validated by mlcore.alttext.check_alt_request
    purpose: str = "informative"
    context: str = ""
    action: str = ""
    #: read the text in the image (OCR): "" = the site's setting, "on", "off" (purpose text: always)
    ocr: str = ""

    def __post_init__(self) -> None:
        from .alttext import check_alt_request
        from .styles import check_language, get_style

        errors: dict[str, str] = {}
        try:
            cleaned = check_alt_request(self.purpose, self.context, self.action)
        except InvalidParams as error:
            errors.update(error.errors)
        else:
            for name, value in zip(("purpose", "context", "action"), cleaned, strict=True):
                object.__setattr__(self, name, value)
        for name, check in (("style", lambda v: get_style(v).name), ("language", check_language)):
            try:
                object.__setattr__(self, name, check(getattr(self, name)))  # UnknownStyle, InvalidLanguage
            except InvalidParams as error:
                errors[error.field] = error.message
        if self.ocr not in ("", "on", "off"):
            errors["ocr"] = f"must be on, off or empty (the site's setting), got {self.ocr!r}"
        for name in PARAM_RANGES:
            value, message = check_param(name, getattr(self, name))
            if message is None:
                object.__setattr__(self, name, value)
            else:
                errors[name] = message
        if not isinstance(self.do_sample, bool):
            errors["do_sample"] = f"must be true or false, got {self.do_sample!r}"
        # Cross-field rules, where the fields they compare are themselves valid.
        if not errors.keys() & CROSS_FIELD_RULES["min_length"] and self.min_length > self.max_length:
            errors["min_length"] = f"must not exceed max_length ({self.max_length}), got {self.min_length}"
        if (not errors.keys() & CROSS_FIELD_RULES["num_alternatives"] and not self.do_sample
                and self.num_alternatives > self.num_beams):
            errors["num_alternatives"] = (
                f"must not exceed num_beams ({self.num_beams}) when not sampling, got {self.num_alternatives}"
            )
        if errors:
            raise InvalidParams.of(errors)

    # -- (de)serialisation ---------------------------------------------------------------

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> GenerationParams:
        if d is None:
            return cls()
        if not isinstance(d, dict):
            raise InvalidParams("params", f"must be a mapping, got {type(d).__name__}")
        known = set(cls.field_names())
        for key in d:
            if key not in known:
                raise InvalidParams(str(key), f"unknown generation parameter; known: {', '.join(sorted(known))}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def cache_key(self) -> str:
        """A stable string: equal params -> equal key, across processes and versions of Python."""
        d = self.to_dict()
        # the alt-text request fields only when set, so keys of requests without them stay as they were
        for name, default in (("purpose", "informative"), ("context", ""), ("action", ""), ("ocr", "")):
            if d[name] == default:
                del d[name]
        return _CACHE_KEY_VERSION + ":" + json.dumps(d, sort_keys=True, separators=(",", ":"))

    def replace(self, **changes: Any) -> GenerationParams:
        d = self.to_dict()
        d.update(changes)
        return type(self).from_dict(d)

    @property
    def num_candidates(self) -> int:
        """How many sequences to generate per image (>= num_alternatives) for re-ranking."""
        if self.do_sample:
            return self.num_alternatives
        return self.num_beams


@dataclass(frozen=True)
class ModelSpec:
    """A resolved model spec.

    kind: 'hf' (any transformers image-to-text model), 'inhouse' (mlcore's own
    ResNet-50 + Transformer decoder checkpoint) or 'ensemble' (members).
    model_id: the hub id or the absolute local folder; path: the local folder when there is one.
    """

    name: str
    model_id: str
    kind: str
    path: str | None = None
    members: tuple[ModelSpec, ...] = field(default_factory=tuple)
    options: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @property
    def key(self) -> str:
        """Canonical string used for the process-wide cache."""
        if self.kind == "ensemble":
            opts = "".join(f";{k}={v}" for k, v in self.options)
            return "ensemble:" + ",".join(m.key for m in self.members) + opts
        return f"{self.kind}:{self.path or self.model_id}"

    def option(self, name: str, default: str | None = None) -> str | None:
        return dict(self.options).get(name, default)
