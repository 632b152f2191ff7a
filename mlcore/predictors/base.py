"""The Captioner interface and the shared finishing steps (post-processing, confidence, ranking)."""

from __future__ import annotations

import abc
import gc
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..confidence import DEFAULT_CONFIDENCE, ConfidenceConfig, combine
from ..config import get_config
from ..errors import FailureKind, failure_kind_of
from ..params import GenerationParams
from ..postprocess import DEFAULT_RULES, GrammarCorrector, postprocess
from ..results import Candidate, CaptionFailure, CaptionOutcome, CaptionResult

__all__ = ["Captioner", "RawCandidate", "check_images", "failure_reason", "EMPTY_CAPTION_ERROR", "stamp_style"]

logger = logging.getLogger(__name__)

#: details["error"] of a result whose caption came out empty (CaptionResult.ok is False)
EMPTY_CAPTION_ERROR = "the model produced no words for this image"


def failure_reason(exc: BaseException) -> str:
    """A non-empty, one-line reason for ``exc``: "<type>: <message>" (at most 500 characters)."""
    message = " ".join(str(exc).split())
    if not message and isinstance(exc, MemoryError):
        message = "out of memory while captioning this image"
    reason = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return reason[:500]


@dataclass
class RawCandidate:
    """What a model produced for one image, before clean-up."""

    raw_text: str
    mean_logprob: float | None  # length-normalised mean token log-probability
    itm_prob: float | None = None
    num_tokens: int | None = None  # generated tokens, end-of-sequence included


def check_images(images: Sequence[Any]) -> list:
    """Validate a list of PIL images; convert to RGB (palette, RGBA, L, CMYK, ...)."""
    from PIL import Image

    from ..images import to_rgb

    if isinstance(images, Image.Image):
        raise TypeError("caption() takes a list of PIL images, not a single image")
    out = []
    for i, img in enumerate(images):
        if not isinstance(img, Image.Image):
            raise TypeError(f"images[{i}] is {type(img).__name__}, expected PIL.Image.Image")
        if img.width < 1 or img.height < 1:
            raise ValueError(f"images[{i}] is empty ({img.width}x{img.height})")
        out.append(img if img.mode == "RGB" else to_rgb(img))  # the loader's one rule: full range, alpha onto white
    return out


def stamp_style(results: list[CaptionResult], params: GenerationParams, prompt: str | None) -> list[CaptionResult]:
    """Record params.style / params.language / the prompt on each result (tags: the keyword list), and
    enforce the style's limits on every captioner's text (CaptionStyle.finish is idempotent: a no-op
    on VLM output, which was finished already; for prompt-less models it applies the ``alt`` limits)."""
    from dataclasses import replace

    from ..styles import get_style, tags_of

    style = get_style(params.style)
    for r in results:
        if r.text:
            r.text = style.finish(r.text)
            r.candidates = [replace(c, text=style.finish(c.text)) if c.text else c for c in r.candidates]
        r.style, r.language, r.prompt = params.style, params.language, prompt
        r.tags = tags_of(r.text) if style.kind == "tags" else None
    return results


class Captioner(abc.ABC):
    """Turns a list of PIL images into one CaptionResult per image, in order."""

    model_id: str = ""
    model_version: str = ""
    device: str = "cpu"
    dtype: str = "float32"
    #: why this dtype: "explicit", or the "auto: ..." reason of hfutils.choose_auto_dtype
    dtype_reason: str = "explicit"
    kind: str = "hf"
    #: the model family (mlcore.catalog.FAMILIES): what it can write comes from the catalogue
    family: str = "blip"

    def __init__(
        self,
        *,
        confidence_config: ConfidenceConfig = DEFAULT_CONFIDENCE,
        rules: Sequence[str] = DEFAULT_RULES,
        grammar: GrammarCorrector | None = None,
        itm: Any = None,
        max_batch_size: int | None = None,
    ):
        self.confidence_config = confidence_config
        self.rules = tuple(rules)
        self.grammar = grammar
        self.itm = itm
        self.max_batch_size = max_batch_size or get_config().max_batch or (
            64 if str(self.device).startswith("cuda") else 8
        )

    @property
    def dtype_name(self) -> str:
        """The resolved dtype: 'float32', 'bfloat16', 'float16' or 'int8' (never 'auto')."""
        return self.dtype

    # -- to implement -------------------------------------------------------------------------

    @abc.abstractmethod
    def generate_raw(
        self, images: list, params: GenerationParams
    ) -> tuple[list[list[RawCandidate]], dict[str, float]]:
        """One list of raw candidates per image (any order) and the chunk's timings in ms
        ({'preprocess_ms', 'generate_ms'}) for a batch of at most max_batch_size images."""

    # -- shared -------------------------------------------------------------------------------

    def caption(self, images: Sequence[Any], params: GenerationParams | None = None) -> list[CaptionResult]:
        """One CaptionResult per image, in order; chunks of ``max_batch_size`` images per model call.

        Raises on the first failure (any image of the call fails with it; see ``caption_isolated``
        for per-image isolation). A result whose caption came out empty has ``ok`` False,
        ``text == ""`` and ``details["error"]``: it is not a caption (store it as a failure).
        """
        params = params if params is not None else GenerationParams()
        if not isinstance(params, GenerationParams):
            raise TypeError("params must be a GenerationParams (use GenerationParams.from_dict)")
        self.check_style(params)
        images = check_images(images)
        results: list[CaptionResult] = []
        for start in range(0, len(images), self.max_batch_size):
            chunk = images[start : start + self.max_batch_size]
            t0 = time.perf_counter()
            raw, timings = self.generate_raw(chunk, params)
            if self.itm is not None:
                t_itm = time.perf_counter()
                self.itm.score_candidates(chunk, raw)
                timings["itm_ms"] = (time.perf_counter() - t_itm) * 1000
            results.extend(self.finish(raw, params, timings, time.perf_counter() - t0, len(chunk)))
        return stamp_style(results, params, self.caption_prompt(params))

    def caption_prompt(self, params: GenerationParams) -> str | None:
        """The exact instruction the model gets for params.style/language (None: it takes no prompt)."""
        return None

    def capabilities(self):
        """What this captioner can write (mlcore.catalog.Capabilities): its family's record in the
        catalogue; composite captioners (ensemble, fallback) compute it from their members."""
        from ..catalog import FAMILIES

        return FAMILIES[self.family].capabilities

    @property
    def supported_styles(self) -> frozenset[str] | None:
        """The caption styles it can write (mlcore.styles); None: every registered style."""
        return self.capabilities().styles

    @property
    def supported_languages(self) -> frozenset[str] | None:
        """The primary language subtags it can write; None: any."""
        return self.capabilities().languages

    def check_style(self, params: GenerationParams) -> None:
        """Raise mlcore.styles.UnsupportedStyle when this captioner cannot write params.style /
        params.language (from ``capabilities()``, i.e. the catalogue)."""
        self.capabilities().check(params, self.model_id)

    def caption_isolated(
        self, images: Sequence[Any], params: GenerationParams | None = None
    ) -> list[CaptionOutcome]:
        """Like ``caption`` but one image never fails another: one entry per image, in order, each
        a CaptionResult (``ok`` True) or a CaptionFailure with a non-empty ``reason``.

        Each chunk of ``max_batch_size`` images is captioned in one batched call; when the call
        raises (any Exception, MemoryError included), the chunk is split in halves and each half
        retried, recursively down to single images, so good images are captioned and only the
        culprit fails with "<ExceptionType>: <message>". An mlcore.engines.EngineUnavailable (an
        engine, fallback chain or ensemble) is not bisected: its ``partial`` results are kept and each
        image of its ``failures`` fails with its reason (error_type "EngineUnavailable"). An empty caption becomes a failure
        ("the model produced no words for this image"). Cost: a failing chunk of n images makes
        at most about 2n model calls. ``params`` errors (TypeError) still raise.
        """
        params = params if params is not None else GenerationParams()
        if not isinstance(params, GenerationParams):
            raise TypeError("params must be a GenerationParams (use GenerationParams.from_dict)")
        from PIL import Image

        if isinstance(images, Image.Image):
            raise TypeError("caption_isolated() takes a list of PIL images, not a single image")
        images = list(images)
        out: list[CaptionResult | CaptionFailure | None] = [None] * len(images)
        good: list[int] = []
        for i, img in enumerate(images):
            try:
                check_images([img])
            except Exception as exc:  # noqa: BLE001 - a bad input is this image's failure
                out[i] = CaptionFailure(reason=failure_reason(exc), error_type=type(exc).__name__,
                                        model_id=self.model_id, kind=failure_kind_of(exc))
            else:
                good.append(i)
        step = max(int(self.max_batch_size), 1)
        for start in range(0, len(good), step):
            self._caption_bisect(images, good[start : start + step], params, out)
        return out  # type: ignore[return-value]

    def _caption_bisect(self, images: list, idx: list[int], params: GenerationParams, out: list) -> None:
        from ..engines import EngineUnavailable

        try:
            results = self.caption([images[i] for i in idx], params)
        except Exception as exc:  # noqa: BLE001 - any failure is isolated to its image(s)
            if isinstance(exc, EngineUnavailable) and len(exc.partial) == len(idx):
                # an engine, fallback chain or ensemble says which images failed and keeps the others'
                # results: no image is asked again (bisecting would ask every member about 2n times)
                logger.warning("%s could not caption %d of %d image(s): %s", exc.engine, len(exc.failures),
                               len(idx), failure_reason(exc))
                for k, (i, res) in enumerate(zip(idx, exc.partial, strict=True)):
                    if res is None or k in exc.failures:
                        reason = " ".join(str(exc.failures.get(k) or exc).split())[:500]
                        out[i] = CaptionFailure(reason=reason, error_type="EngineUnavailable",
                                                model_id=exc.engine, kind=exc.kind)
                    else:
                        self._keep(i, res, out)
                return
            if isinstance(exc, MemoryError):
                gc.collect()
            if len(idx) == 1:
                logger.warning("Captioning one image failed with %s: %s", self.model_id, failure_reason(exc))
                out[idx[0]] = CaptionFailure(reason=failure_reason(exc), error_type=type(exc).__name__,
                                             model_id=self.model_id, kind=failure_kind_of(exc))
                return
            half = len(idx) // 2
            self._caption_bisect(images, idx[:half], params, out)
            self._caption_bisect(images, idx[half:], params, out)
            return
        for i, res in zip(idx, results, strict=False):
            self._keep(i, res, out)

    def _keep(self, i: int, res: CaptionResult, out: list) -> None:
        if res.ok:
            out[i] = res
        else:
            reason = res.details.get("error") or EMPTY_CAPTION_ERROR
            if res.raw_text:
                reason = f"{reason} (raw output {res.raw_text[:80]!r})"
            out[i] = CaptionFailure(reason=reason, error_type="EmptyCaption", model_id=self.model_id,
                                    kind=FailureKind.NO_WORDS)

    def score_text(self, raw: RawCandidate) -> tuple[str, float, dict[str, Any]]:
        text = postprocess(raw.raw_text, self.rules)
        score, details = combine(text, raw.mean_logprob, raw.itm_prob, self.confidence_config, raw.raw_text)
        return text, score, details

    def finish(
        self,
        raw: list[list[RawCandidate]],
        params: GenerationParams,
        timings: dict[str, float],
        chunk_seconds: float,
        n: int,
    ) -> list[CaptionResult]:
        out = []
        t_post = time.perf_counter()
        grammar_fixed: dict[str, str] = {}
        if self.grammar is not None:
            firsts = sorted({postprocess(c.raw_text, self.rules) for cands in raw for c in cands} - {""})
            grammar_fixed = dict(zip(firsts, [postprocess(t) for t in self.grammar.correct(firsts)], strict=False))
        for cands in raw:
            ranked: dict[str, tuple[Candidate, dict]] = {}
            for rc in cands:
                text, score, details = self.score_text(rc)
                text = grammar_fixed.get(text, text)
                cand = Candidate(
                    text=text,
                    score=score,
                    raw_text=rc.raw_text,
                    sequence_score=rc.mean_logprob,
                    itm_score=rc.itm_prob,
                    model_id=getattr(rc, "model_id", None),
                )
                key = text.lower()
                if key not in ranked or score > ranked[key][0].score:
                    ranked[key] = (cand, details)
            order = sorted(ranked.values(), key=lambda cd: (-cd[0].score, cd[0].text))
            if order and order[0][0].text == "" and len(order) > 1:
                # never choose an empty caption while a non-empty one exists
                order = [cd for cd in order if cd[0].text] + [cd for cd in order if not cd[0].text]
            if not order:
                best, details = Candidate(text="", score=0.0), {"flags": ["empty"]}
            else:
                best, details = order[0]
            if not best.text.strip():
                details = dict(details, flags=sorted(set(details.get("flags", [])) | {"empty"}),
                               error=EMPTY_CAPTION_ERROR)
            alternatives = [cd[0] for cd in order if cd[0].text or cd[0] is best][: params.num_alternatives]
            out.append(
                CaptionResult(
                    text=best.text,
                    raw_text=best.raw_text,
                    confidence=best.score,
                    candidates=alternatives or [best],
                    model_id=self.model_id,
                    model_version=self.model_version,
                    timings={},
                    details=dict(details),
                )
            )
        post_s = time.perf_counter() - t_post
        total_ms = (chunk_seconds + post_s) * 1000
        for r in out:
            r.timings = {
                "preprocess_ms": timings.get("preprocess_ms", 0.0) / max(n, 1),
                "generate_ms": timings.get("generate_ms", 0.0) / max(n, 1),
                "total_ms": total_ms / max(n, 1),
                "batch_size": n,
            }
            if "itm_ms" in timings:
                r.timings["itm_ms"] = timings["itm_ms"] / max(n, 1)
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model_id": self.model_id,
            "model_version": self.model_version,
            "device": self.device,
            "dtype": self.dtype,
            "max_batch_size": self.max_batch_size,
        }

    def info(self) -> dict[str, Any]:
        """``describe()`` plus how the dtype was chosen, for logs and dashboards:
        {'kind', 'model_id', 'model_version', 'device', 'dtype', 'dtype_reason', 'max_batch_size', ...}."""
        return dict(self.describe(), dtype_reason=self.dtype_reason)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.model_id} v{self.model_version} {self.device}/{self.dtype}>"
