"""Generation parameters (validated) and model specs.

Pure Python: importing this module does not import torch or transformers.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .errors import InvalidParams

__all__ = ["GenerationParams", "ModelSpec", "PARAM_RANGES"]

# field -> (type, min, max, min_inclusive); max is always inclusive.
PARAM_RANGES: dict[str, tuple[type, float | None, float | None, bool]] = {
    "num_beams": (int, 1, 10, True),
    "max_length": (int, 5, 100, True),
    "min_length": (int, 0, 100, True),  # and <= max_length
    "temperature": (float, 0.1, 2.0, True),
    "top_p": (float, 0.0, 1.0, False),  # (0, 1]
    "length_penalty": (float, -2.0, 2.0, True),
    "repetition_penalty": (float, 1.0, 2.0, True),
    "no_repeat_ngram_size": (int, 0, 10, True),
    "num_alternatives": (int, 1, 5, True),
}

_CACHE_KEY_VERSION = "gp1"


@dataclass(frozen=True)
class GenerationParams:
    """How captions are generated. Validated on construction; raises InvalidParams.

    Lengths count caption tokens (new tokens), not the prompt, for every architecture.
    """

    num_beams: int = 3
    max_length: int = 40
    min_length: int = 5
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    length_penalty: float = 1.0
    repetition_penalty: float = 1.2
    no_repeat_ngram_size: int = 0
    num_alternatives: int = 1
    #: caption style name (mlcore.styles: alt | description | tags | a registered custom style)
    style: str = "alt"
    #: BCP 47 language tag the caption is written in (canonicalised: 'pt-br' -> 'pt-BR')
    language: str = "en"

    def __post_init__(self) -> None:
        from .styles import check_language, get_style

        object.__setattr__(self, "style", get_style(self.style).name)  # UnknownStyle (field 'style')
        object.__setattr__(self, "language", check_language(self.language))  # InvalidLanguage
        # Types first (a bool is an int in Python; refuse it where a number is expected).
        for name, (typ, lo, hi, lo_incl) in PARAM_RANGES.items():
            value = getattr(self, name)
            if typ is int:
                if isinstance(value, bool) or not isinstance(value, int):
                    if isinstance(value, float) and value.is_integer() and not isinstance(value, bool):
                        value = int(value)
                        object.__setattr__(self, name, value)
                    else:
                        raise InvalidParams(name, f"must be an integer, got {value!r}")
            else:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise InvalidParams(name, f"must be a number, got {value!r}")
                value = float(value)
                if not math.isfinite(value):
                    raise InvalidParams(name, f"must be a finite number, got {value!r}")
                object.__setattr__(self, name, value)
            if lo is not None and (value < lo or (value == lo and not lo_incl)):
                bound = f"{lo}" if lo_incl else f"more than {lo}"
                raise InvalidParams(name, f"must be between {bound} and {hi}, got {value!r}")
            if hi is not None and value > hi:
                raise InvalidParams(name, f"must be between {lo} and {hi}, got {value!r}")
        if not isinstance(self.do_sample, bool):
            raise InvalidParams("do_sample", f"must be true or false, got {self.do_sample!r}")
        if self.min_length > self.max_length:
            raise InvalidParams(
                "min_length", f"must not exceed max_length ({self.max_length}), got {self.min_length}"
            )
        if not self.do_sample and self.num_alternatives > self.num_beams:
            raise InvalidParams(
                "num_alternatives",
                f"must not exceed num_beams ({self.num_beams}) when not sampling, "
                f"got {self.num_alternatives}",
            )

    # -- (de)serialisation ---------------------------------------------------------------

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "GenerationParams":
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
        return _CACHE_KEY_VERSION + ":" + json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def replace(self, **changes: Any) -> "GenerationParams":
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
    members: tuple["ModelSpec", ...] = field(default_factory=tuple)
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
