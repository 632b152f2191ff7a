"""mlcore's environment, read once into a typed, frozen object.

Every environment variable mlcore honours is read here and nowhere else::

    from mlcore.config import get_config
    cfg = get_config()            # read on first use, then cached for the process
    cfg.max_loaded_models         # int

Tests (or a host that changes ``os.environ`` on purpose) call ``reload_config()`` to read it again.
Bad values raise ``MLCoreConfigError`` (a ValueError) naming the variable, when first read.

| variable | field | default |
| --- | --- | --- |
| ``MLCORE_MAX_BATCH`` | ``max_batch`` | None: 8 images per forward pass on CPU, 64 on CUDA |
| ``MLCORE_MAX_LOADED_MODELS`` | ``max_loaded_models`` | 2 captioners kept loaded per process (LRU) |
| ``MLCORE_HF_CACHE`` | ``hf_cache`` | None: the usual Hugging Face cache |
| ``MLCORE_MODELS_DIR`` | ``models_dir`` | None |
| ``MLCORE_MODEL_<NAME>`` | ``model_overrides`` | {} (e.g. ``MLCORE_MODEL_BLIP_BASE=/models/blip``) |
| ``MLCORE_ITM_MODEL`` | ``itm_model`` | None: no image-text matching term |
| ``MLCORE_GRAMMAR_MODEL`` | ``grammar_model`` | None: no grammar correction (a text2text model, e.g. a T5 corrector) |
| ``MLCORE_DEVICE`` | ``device`` | None: "auto" (CUDA when available, else CPU) |
| ``MLCORE_DTYPE`` | ``dtype`` | None: "auto" (see ``hfutils.resolve_dtype``) |
| ``MLCORE_VISION_ENGINE`` | ``vision_engine`` | "torch"; "auto": BLIP's vision encoder on ONNX Runtime int8 where the CPU has VNNI (``predictors.onnx_vision``); "onnx-int8" |
| ``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE`` | ``offline`` | False |
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import MLCoreError

__all__ = ["MLCoreConfig", "MLCoreConfigError", "get_config", "reload_config", "model_env_name", "child_environment"]

_TRUE = {"1", "true", "yes", "on"}
_MODEL_PREFIX = "MLCORE_MODEL_"


class MLCoreConfigError(MLCoreError, ValueError):
    """An mlcore environment variable has a value mlcore cannot use."""

    def __init__(self, variable: str, message: str):
        self.variable = variable
        super().__init__(f"{variable}: {message}")


def model_env_name(name: str) -> str:
    """The override variable of registry name ``name``: 'blip-base' -> 'MLCORE_MODEL_BLIP_BASE'."""
    return _MODEL_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


@dataclass(frozen=True)
class MLCoreConfig:
    """What mlcore reads from the environment (see the module docstring for the variables)."""

    max_batch: int | None = None
    max_loaded_models: int = 2
    hf_cache: str | None = None
    models_dir: str | None = None
    itm_model: str | None = None
    #: a text2text (seq2seq) model that rewrites each caption (mlcore.postprocess.GrammarCorrector)
    grammar_model: str | None = None
    device: str | None = None
    dtype: str | None = None
    #: opt-in: the int8 encoder fails the token-agreement mark on BLIP-base shapes (docs/performance.md)
    vision_engine: str = "torch"
    offline: bool = False
    #: the OpenAI-compatible engine (mlcore.predictors.openai_engine): key, seconds, requests in flight, px
    openai_api_key: str | None = None
    openai_timeout: float = 60.0
    openai_concurrency: int = 4
    openai_retries: int = 3
    openai_backoff: float = 0.5
    openai_max_side: int = 768
    #: MLCORE_MODEL_<NAME> variable name -> value (the NAME part as written in the variable)
    model_overrides: Mapping[str, str] = field(default_factory=dict)

    def model_override(self, name: str) -> str | None:
        """The folder (or id) that $MLCORE_MODEL_<NAME> gives registry name ``name``, if any."""
        return self.model_overrides.get(model_env_name(name)) or None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> MLCoreConfig:
        env = os.environ if environ is None else environ

        def text(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        def positive_int(name: str, default: int | None) -> int | None:
            raw = text(name)
            if raw is None:
                return default
            try:
                value = int(raw)
            except ValueError:
                raise MLCoreConfigError(name, f"must be a positive integer, got {raw!r}") from None
            if value == 0 and default is None:
                return None  # 0 means "the default" for MLCORE_MAX_BATCH
            if value < 1:
                raise MLCoreConfigError(name, f"must be a positive integer, got {raw!r}")
            return value

        def flag(name: str) -> bool:
            # the same reading as huggingface_hub's: anything but 1/true/yes/on is off
            return env.get(name, "").strip().lower() in _TRUE

        def number(name: str, default: float, lo: float) -> float:
            raw = text(name)
            if raw is None:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise MLCoreConfigError(name, f"must be a number, got {raw!r}") from None
            if not math.isfinite(value) or value < lo:
                raise MLCoreConfigError(name, f"must be a number >= {lo:g}, got {raw!r}")
            return value

        def engine(raw: str | None) -> str:
            value = (raw or "torch").lower()
            if value not in ("auto", "torch", "onnx-int8"):
                raise MLCoreConfigError("MLCORE_VISION_ENGINE", f"must be auto, torch or onnx-int8, got {raw!r}")
            return value

        overrides = {
            k: v.strip() for k, v in env.items() if k.startswith(_MODEL_PREFIX) and k != "MLCORE_MODELS_DIR" and v.strip()
        }
        return cls(
            max_batch=positive_int("MLCORE_MAX_BATCH", None),
            max_loaded_models=positive_int("MLCORE_MAX_LOADED_MODELS", 2) or 2,
            hf_cache=text("MLCORE_HF_CACHE"),
            models_dir=text("MLCORE_MODELS_DIR"),
            itm_model=text("MLCORE_ITM_MODEL"),
            grammar_model=text("MLCORE_GRAMMAR_MODEL"),
            device=text("MLCORE_DEVICE"),
            dtype=text("MLCORE_DTYPE"),
            vision_engine=engine(text("MLCORE_VISION_ENGINE")),
            offline=flag("HF_HUB_OFFLINE") or flag("TRANSFORMERS_OFFLINE"),
            openai_api_key=text("MLCORE_OPENAI_API_KEY") or text("OPENAI_API_KEY"),
            openai_timeout=number("MLCORE_OPENAI_TIMEOUT", 60.0, 0.1),
            openai_concurrency=int(number("MLCORE_OPENAI_CONCURRENCY", 4, 1)),
            openai_retries=int(number("MLCORE_OPENAI_RETRIES", 3, 0)),
            openai_backoff=number("MLCORE_OPENAI_BACKOFF", 0.5, 0),
            openai_max_side=int(number("MLCORE_OPENAI_MAX_SIDE", 768, 32)),
            model_overrides=overrides,
        )


_config: MLCoreConfig | None = None
_lock = threading.Lock()


def get_config() -> MLCoreConfig:
    """The process's config, read from ``os.environ`` on first call and cached."""
    global _config
    cfg = _config
    if cfg is None:
        with _lock:
            if _config is None:
                _config = MLCoreConfig.from_environ()
            cfg = _config
    return cfg


def reload_config(environ: Mapping[str, str] | None = None) -> MLCoreConfig:
    """Read the environment again (or ``environ`` when given) and make it the process's config."""
    global _config
    cfg = MLCoreConfig.from_environ(environ)
    with _lock:
        _config = cfg
    return cfg


def child_environment(**overrides: str) -> dict[str, str]:
    """The environment for a child process that mlcore starts (the benchmarks' one process per
    model): this process's environment as it is now, with ``overrides`` set. The one other place
    besides the config that touches ``os.environ``, so that stays here."""
    return {**os.environ, **overrides}

