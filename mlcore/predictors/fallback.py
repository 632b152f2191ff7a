"""Fallback chains: ``fallback:<spec>|<spec>|...`` tries each spec in turn (PhotoPrism-style).

``|`` separates members because it cannot appear unencoded in a URL (RFC 3986) nor in a hub id,
Ollama model name or folder name people use; e.g.
``fallback:openai:http://vllm:8000/v1#Qwen/Qwen2.5-VL-7B-Instruct|smolvlm-256m|blip-base``.

For each call, the images go to the first member; the ones it could not caption (engine
unavailable after its retries, model not loadable, style not supported, generation error) go to
the next member, and so on. Each result records, in ``details['fallback']``, which member captioned
it (``engine``) and every earlier failure for that image (``failed``: [{engine, error}]). Members are
loaded lazily, through the registry's cache; a member that failed to load is not tried again for
``retry_seconds`` (default 60). When no member can caption an image the call raises
mlcore.engines.EngineUnavailable with the partial results and each image's reasons (nothing is
silently lost). Events ``engine_failed`` / ``fallback_used`` go to mlcore.engines listeners.

The chain is handed its ``loader`` (``spec -> Captioner``; the registry passes its cached
``load_captioner``) and, optionally, what each member can write (mlcore.catalog.Capabilities, known
without loading it): the chain can write what any member can (``Capabilities.any_of``), so a style no
member can write is refused before any member is loaded.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..catalog import Capabilities
from ..engines import EngineUnavailable, emit
from ..errors import MLCoreError, ModelLoadError
from ..params import GenerationParams
from ..results import CaptionResult
from ..styles import UnsupportedStyle
from .base import Captioner, check_images

__all__ = ["FallbackCaptioner", "SEPARATOR"]

SEPARATOR = "|"


class FallbackCaptioner(Captioner):
    kind = "fallback"
    family = "fallback"

    def __init__(self, specs: Sequence[str], *, loader: Callable[..., Captioner], device: str | None = None,
                 dtype: str | None = None, retry_seconds: float = 60.0, load_options: dict | None = None,
                 spec: str | None = None, capabilities: Sequence[Capabilities] | None = None):
        if not specs:
            raise ValueError("a fallback chain needs at least one member")
        if capabilities is not None and len(capabilities) != len(specs):
            raise ValueError("one Capabilities per member")
        self.specs = list(specs)
        self.loader = loader
        self.member_capabilities = list(capabilities) if capabilities is not None else None
        self.model_id = spec or ("fallback:" + SEPARATOR.join(self.specs))
        self.model_version = hashlib.sha256(self.model_id.encode()).hexdigest()[:12]
        self.device = device or "auto"
        self.dtype = dtype or "auto"
        self.retry_seconds = retry_seconds
        self._load_options = dict(load_options or {})
        self._loaded: dict[int, Captioner] = {}
        self._load_failed: dict[int, tuple[float, str]] = {}
        self._lock = threading.Lock()
        super().__init__()
        self.max_batch_size = 1 << 30

    def generate_raw(self, images, params):  # pragma: no cover - caption() is overridden
        raise NotImplementedError

    def capabilities(self) -> Capabilities:
        """Any member may caption an image: the union of what the members can write (unknown members:
        any style, checked by the member when it runs)."""
        if self.member_capabilities is None:
            return Capabilities(None, None, known=False)
        return Capabilities.any_of(self.member_capabilities)

    def member(self, i: int) -> Captioner:
        """Member ``i``, loaded on first use; ModelLoadError (remembered for retry_seconds) when it cannot."""
        with self._lock:
            if i in self._loaded:
                return self._loaded[i]
            failed = self._load_failed.get(i)
            if failed and time.monotonic() - failed[0] < self.retry_seconds:
                raise ModelLoadError(failed[1], self.specs[i])
        try:
            cap = self.loader(self.specs[i], device=None if self.device == "auto" else self.device,
                                 dtype=None if self.dtype == "auto" else self.dtype, **self._load_options)
        except ModelLoadError as exc:
            with self._lock:
                self._load_failed[i] = (time.monotonic(), exc.reason)
            raise
        with self._lock:
            self._loaded[i] = cap
        return cap

    def caption(self, images: Sequence[Any], params: GenerationParams | None = None) -> list[CaptionResult]:
        params = params if params is not None else GenerationParams()
        if not isinstance(params, GenerationParams):
            raise TypeError("params must be a GenerationParams (use GenerationParams.from_dict)")
        self.check_style(params)
        images = check_images(images)
        n = len(images)
        results: list[CaptionResult | None] = [None] * n
        failed: dict[int, list[dict[str, str]]] = {i: [] for i in range(n)}
        producer: dict[int, tuple[int, str]] = {}
        pending = list(range(n))
        unsupported: UnsupportedStyle | None = None
        for k, spec in enumerate(self.specs):
            if not pending:
                break
            try:
                cap = self.member(k)
                res = cap.caption([images[j] for j in pending], params)
                errors: dict[int, str] = {}
                got = dict(zip(pending, res, strict=True))
            except EngineUnavailable as exc:
                got = {pending[p]: r for p, r in enumerate(exc.partial) if r is not None}
                errors = {pending[p]: why for p, why in exc.failures.items()}
            except UnsupportedStyle as exc:
                unsupported = unsupported or exc
                got, errors = {}, {j: str(exc) for j in pending}
            except (MLCoreError, OSError, RuntimeError, MemoryError) as exc:
                got, errors = {}, {j: f"{type(exc).__name__}: {getattr(exc, 'reason', None) or exc}" for j in pending}
            for j, r in got.items():
                results[j] = r
                producer[j] = (k, spec)
            for j, why in errors.items():
                failed[j].append({"engine": spec, "error": str(why)[:500]})
            if errors:
                emit("engine_failed", spec, error=str(next(iter(errors.values())))[:300], images=len(errors))
            if got and k > 0:
                emit("fallback_used", spec, images=len(got), after=self.specs[0])
            pending = [j for j in pending if j not in got]
        for j, r in enumerate(results):
            if r is not None:
                r.details["fallback"] = {"engine": producer[j][1], "position": producer[j][0], "failed": failed[j]}
        if pending:
            if unsupported is not None and not any(r is not None for r in results) and all(
                all("cannot write" in f["error"] for f in failed[j]) for j in pending
            ):
                raise unsupported
            reasons = {j: "; ".join(f"{f['engine']}: {f['error']}" for f in failed[j]) for j in pending}
            raise EngineUnavailable(self.model_id, reasons, results)
        return results  # type: ignore[return-value]

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["members"] = self.specs
        d["loaded"] = {self.specs[i]: c.describe() for i, c in self._loaded.items()}
        return d
