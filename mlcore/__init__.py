"""captionsite's machine-learning core. A plain Python package: it never imports Django.

    from mlcore import load_captioner, GenerationParams
    captioner = load_captioner("blip-base")            # or a folder, a hub id, "ensemble:a,b", "inhouse:/ckpt"
    results = captioner.caption([pil_image], GenerationParams(num_beams=3))
    results[0].text, results[0].confidence, results[0].candidates

Importing ``mlcore`` is cheap (no torch / transformers until a model is loaded): ``evaluate``,
``score_captions`` (mlcore.metrics) and ``finetune_hf`` (mlcore.training) are imported on first
use through the module ``__getattr__``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .catalog import Capabilities, ModelEntry, add_model
from .confidence import ConfidenceConfig, calibrate
from .config import MLCoreConfig, get_config, reload_config
from .engines import EngineUnavailable, add_engine_listener, remove_engine_listener
from .errors import FailureKind, InvalidParams, MLCoreError, ModelLoadError
from .images import (
    ImageLoadError,
    LoadedImage,
    captioner_target_size,
    load_image,
    make_thumbnail,
)
from .params import PARAM_FIELDS, PARAM_RANGES, GenerationParams, ModelSpec, ParamRange
from .predictors.base import Captioner
from .registry import (
    DEFAULT_MODEL,
    REGISTRY,
    clear_cache,
    fetch_model,
    load_captioner,
    register_model,
    resolve_spec,
)
from .results import Candidate, CaptionFailure, CaptionOutcome, CaptionResult
from .styles import (
    CaptionStyle,
    InvalidLanguage,
    UnknownStyle,
    UnsupportedStyle,
    check_language,
    get_style,
    register_style,
    unregister_style,
)

if TYPE_CHECKING:  # pragma: no cover
    from .metrics import evaluate, score_captions
    from .training import finetune_hf

# name -> module it lives in; imported on first attribute access (keeps ``import mlcore`` cheap)
_LAZY = {
    "evaluate": "mlcore.metrics",
    "score_captions": "mlcore.metrics",
    "finetune_hf": "mlcore.training",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mlcore' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

__version__ = "0.1.0"

__all__ = [
    "load_captioner",
    "Captioner",
    "GenerationParams",
    "CaptionResult",
    "CaptionFailure",
    "Candidate",
    "ModelLoadError",
    "InvalidParams",
    "MLCoreError",
    "resolve_spec",
    "fetch_model",
    "ModelSpec",
    "ConfidenceConfig",
    "calibrate",
    "register_model",
    "clear_cache",
    "REGISTRY",
    "Capabilities",
    "ModelEntry",
    "add_model",
    "FailureKind",
    "CaptionOutcome",
    "DEFAULT_MODEL",
    "PARAM_RANGES",
    "load_image",
    "LoadedImage",
    "ImageLoadError",
    "captioner_target_size",
    "make_thumbnail",
    "PARAM_FIELDS",
    "ParamRange",
    "MLCoreConfig",
    "get_config",
    "reload_config",
    "evaluate",
    "score_captions",
    "finetune_hf",
    "CaptionStyle",
    "get_style",
    "register_style",
    "unregister_style",
    "check_language",
    "UnknownStyle",
    "UnsupportedStyle",
    "InvalidLanguage",
    "EngineUnavailable",
    "add_engine_listener",
    "remove_engine_listener",
]
