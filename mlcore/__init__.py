"""captionsite's machine-learning core. A plain Python package: it never imports Django.

    from mlcore import load_captioner, GenerationParams
    captioner = load_captioner("blip-base")            # or a folder, a hub id, "ensemble:a,b", "inhouse:/ckpt"
    results = captioner.caption([pil_image], GenerationParams(num_beams=3))
    results[0].text, results[0].confidence, results[0].candidates

Importing ``mlcore`` is cheap (no torch / transformers until a model is loaded).
"""

from __future__ import annotations

from .confidence import ConfidenceConfig, calibrate
from .engines import EngineUnavailable, add_engine_listener, remove_engine_listener
from .errors import InvalidParams, MLCoreError, ModelLoadError
from .params import GenerationParams, ModelSpec
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
from .results import Candidate, CaptionResult
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

__version__ = "0.1.0"

__all__ = [
    "load_captioner",
    "Captioner",
    "GenerationParams",
    "CaptionResult",
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
    "DEFAULT_MODEL",
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
