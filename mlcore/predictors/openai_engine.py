"""Caption through any OpenAI-compatible ``/v1/chat/completions`` server that takes images
(vLLM, Ollama, LM Studio, ``transformers serve``, OpenAI itself).

Spec: ``openai:<base URL>#<model>``, e.g. ``openai:http://vllm:8000/v1#Qwen/Qwen2.5-VL-7B-Instruct``
or ``openai:http://localhost:11434/v1#qwen2.5vl:7b`` (Ollama). The base URL ends before
``/chat/completions``.

One request per image: a user turn ``[image_url (base64 data URL), text (the style prompt)]``,
``max_tokens`` = the style's budget (``CaptionStyle.max_new_tokens(params.max_length)``),
``temperature`` 0 unless ``params.do_sample`` (then temperature / top_p), and ``logprobs: true``.
Beam search and alternatives are not available through this API (one candidate per image).

* Images: converted to RGB, downscaled so the longer side is at most ``max_side`` px (default 768;
  Qwen2.5-VL's and LLaVA-NeXT's native tiles are about this size) and sent as JPEG data URLs.
* Concurrency: at most ``concurrency`` requests in flight per engine object (a thread pool; the
  registry keeps one engine per process, so this is per worker process).
* HTTP: one httpx client per engine (connection pooling, keep-alive; ``timeout`` for connecting,
  reading and writing each). Retries are tenacity's: 408, 429, 500, 502, 503, 504, timeouts,
  connection errors and undecodable answers are retried up to ``retries`` times with exponential
  back-off ``backoff * 2**attempt`` (capped at ``max_backoff``) plus up to 10 % jitter, or the
  server's ``Retry-After`` seconds when it sends one (capped the same way). Other 4xx answers fail at
  once (wrong model name, bad key).
* Confidence: when the server returns token ``logprobs``, the mean token log-probability feeds
  mlcore.confidence exactly as for local models (``details['confidence_source'] == 'logprobs'``);
  otherwise the sequence term is unknown: ``details['confidence_source'] == 'unknown'`` and the
  confidence is the sanity/ITM part only (0.0 without ITM), so the default review threshold sends
  such captions to review. Servers that reject the ``logprobs`` field with a 400/422 are asked again
  without it (remembered for the engine's lifetime).
* Failures: after the retries, ``caption`` raises mlcore.engines.EngineUnavailable with the
  results that did succeed (``partial``) and the reason for each failed image (``failures``).

Settings (keyword arguments of ``load_captioner``, else the environment, read in ``engine_settings``):
``api_key`` (MLCORE_OPENAI_API_KEY, else OPENAI_API_KEY; none sent when unset), ``timeout``
(MLCORE_OPENAI_TIMEOUT, seconds, default 60), ``concurrency`` (MLCORE_OPENAI_CONCURRENCY, default 4),
``retries`` (MLCORE_OPENAI_RETRIES, default 3), ``backoff`` (MLCORE_OPENAI_BACKOFF, seconds, default 0.5),
``max_backoff`` (default 30), ``max_side`` (MLCORE_OPENAI_MAX_SIDE, px, default 768).
"""

from __future__ import annotations

import base64
import io
import math
import random
import re
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..engines import EngineUnavailable, emit
from ..errors import ModelLoadError
from ..params import GenerationParams
from ..results import CaptionResult
from ..styles import get_style
from .base import Captioner, RawCandidate, check_images, failure_reason, stamp_style

__all__ = ["OpenAIEngine", "parse_openai_spec", "engine_settings", "RETRY_STATUSES", "EngineRequestError"]

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_THINK_RE = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)


class _Retryable(Exception):
    """A retryable failure of one attempt: its HTTP status (None: no answer), reason and headers."""

    def __init__(self, status: int | None, error: str, headers: dict):
        self.status, self.error, self.headers = status, error, headers
        super().__init__(error)


class EngineRequestError(Exception):
    """One request failed for good (after retries, or a non-retryable answer)."""

    def __init__(self, reason: str, status: int | None = None):
        self.reason = reason
        self.status = status
        super().__init__(reason)


def parse_openai_spec(spec: str) -> tuple[str, str]:
    """'openai:http://host:8000/v1#model' -> ('http://host:8000/v1', 'model'). ModelLoadError when bad."""
    body = spec[len("openai:"):] if spec.startswith("openai:") else spec
    url, sep, model = body.partition("#")
    url, model = url.strip().rstrip("/"), model.strip()
    if not sep or not model:
        raise ModelLoadError(
            "an openai engine spec needs a model name after '#': 'openai:http://host:8000/v1#model-name'", spec)
    if not re.match(r"^https?://[^\s/#?]+", url):
        raise ModelLoadError(f"the openai engine URL must start with http:// or https://, got {url!r}", spec)
    if url.endswith("/chat/completions"):
        url = url[: -len("/chat/completions")]
    return url, model


def engine_settings(**overrides: Any) -> dict[str, Any]:
    """The engine's settings: explicit keyword arguments first, then mlcore's config (the
    environment, read once: ``mlcore.config``), then defaults."""
    from ..config import get_config

    cfg = get_config()
    s = {
        "api_key": cfg.openai_api_key,
        "timeout": cfg.openai_timeout,
        "concurrency": cfg.openai_concurrency,
        "retries": cfg.openai_retries,
        "backoff": cfg.openai_backoff,
        "max_backoff": 30.0,
        "max_side": cfg.openai_max_side,
    }
    for k, v in overrides.items():
        if v is not None:
            s[k] = v
    return s


def image_data_url(image, max_side: int = 768, quality: int = 90) -> str:
    """A PIL image as a JPEG base64 data URL, downscaled (aspect kept) to at most ``max_side`` px."""
    img = image if image.mode == "RGB" else image.convert("RGB")
    if max(img.size) > max_side:
        img = img.copy()
        img.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class OpenAIEngine(Captioner):
    """A remote OpenAI-compatible chat-completions server behind the Captioner interface."""

    kind = "openai"
    family = "openai"  # any registered style, any language: the server gets the style's prompt

    def __init__(self, base_url: str, model: str, *, spec: str | None = None, api_key: str | None = None,
                 timeout: float | None = None, concurrency: int | None = None, retries: int | None = None,
                 backoff: float | None = None, max_backoff: float | None = None, max_side: int | None = None,
                 device: str | None = None, dtype: str | None = None, **kwargs):
        s = engine_settings(api_key=api_key, timeout=timeout, concurrency=concurrency, retries=retries,
                            backoff=backoff, max_backoff=max_backoff, max_side=max_side)
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = s["api_key"]
        self.timeout = float(s["timeout"])
        self.concurrency = max(1, int(s["concurrency"]))
        self.retries = max(0, int(s["retries"]))
        self.backoff = float(s["backoff"])
        self.max_backoff = float(s["max_backoff"])
        self.max_side = int(s["max_side"])
        self.model_id = f"openai:{self.base_url}#{model}"
        self.model_version = model
        self.device = "remote"
        self.dtype = "remote"
        self.spec = spec or self.model_id
        super().__init__(**kwargs)
        self.max_batch_size = 1 << 30  # requests are bounded by the pool, not by chunks
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="mlcore-openai")
        self._logprobs_ok = True
        self._lock = threading.Lock()
        self._client = None

    @classmethod
    def from_spec(cls, spec: str, **kwargs) -> OpenAIEngine:
        url, model = parse_openai_spec(spec)
        return cls(url, model, spec=spec, **kwargs)

    # -- HTTP -------------------------------------------------------------------------------------

    @property
    def client(self):
        """The engine's httpx client (created on first use; pooled connections, one timeout)."""
        import httpx

        with self._lock:
            if self._client is None:
                headers = {"Accept": "application/json"}
                if self.api_key:
                    headers["Authorization"] = f"Bearer {self.api_key}"
                self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=self.timeout,
                                            limits=httpx.Limits(max_connections=self.concurrency))
            return self._client

    def _post(self, payload: dict) -> tuple[int, dict, dict]:
        """(status, headers, decoded JSON body) of one POST; httpx.TransportError / ValueError when no
        usable answer came (a 2xx answer that is not JSON is a ValueError)."""
        resp = self.client.post("/chat/completions", json=payload)
        try:
            body = resp.json() if resp.content else {}
        except ValueError:
            if 200 <= resp.status_code < 300:
                raise
            body = {}
        return resp.status_code, dict(resp.headers), body if isinstance(body, dict) else {"error": body}

    def _delay(self, attempt: int, headers: dict) -> float:
        retry_after = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
        if retry_after is not None:
            try:
                return min(self.max_backoff, max(0.0, float(retry_after)))
            except ValueError:
                pass
        base = min(self.max_backoff, self.backoff * (2 ** attempt))
        return base * (1.0 + 0.1 * random.random())

    def _wait(self, retry_state) -> float:
        """tenacity's wait: the server's Retry-After, else exponential back-off with jitter."""
        failure = retry_state.outcome.exception()
        return self._delay(retry_state.attempt_number - 1, getattr(failure, "headers", {}))

    def _attempt(self, state: dict) -> dict:
        """One attempt (tenacity retries it): the JSON answer, _Retryable, or EngineRequestError."""
        import httpx

        t0 = time.perf_counter()
        attempt = state["attempt"] = state.get("attempt", 0) + 1
        while True:
            try:
                status, headers, body = self._post(state["payload"])
            except (httpx.TransportError, ValueError) as exc:
                raise _Retryable(None, f"{type(exc).__name__}: {exc}", {}) from exc
            if 200 <= status < 300:
                emit("request_ok", self.model_id, status=status, seconds=time.perf_counter() - t0, attempts=attempt)
                return body
            msg = body.get("error")
            if isinstance(msg, dict):
                msg = msg.get("message")
            msg = msg or body.get("detail") or ""
            error = f"HTTP {status}" + (f": {str(msg)[:300]}" if msg else "")
            if status in (400, 422) and state["payload"].get("logprobs") and "logprob" in str(msg).lower():
                # this server rejects the field: ask without it, now and from now on (another request in
                # flight may have learnt it first: it is asked again all the same); not a retry
                self._logprobs_ok = False
                state["payload"] = {k: v for k, v in state["payload"].items() if k not in ("logprobs", "top_logprobs")}
                continue
            if status not in RETRY_STATUSES:
                emit("request_failed", self.model_id, status=status, attempts=attempt)
                raise EngineRequestError(f"{self.model_id}: {error}", status)
            raise _Retryable(status, error, headers)

    def request(self, payload: dict) -> dict:
        """POST one chat completion with retries; the decoded JSON answer, or EngineRequestError."""
        from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

        state: dict[str, Any] = {"payload": payload}

        def before_sleep(retry_state) -> None:
            failure = retry_state.outcome.exception()
            emit("request_retry", self.model_id, status=failure.status, error=failure.error,
                 attempt=retry_state.attempt_number, delay_s=retry_state.upcoming_sleep)

        retrying = Retrying(retry=retry_if_exception_type(_Retryable), stop=stop_after_attempt(self.retries + 1),
                            wait=self._wait, before_sleep=before_sleep, sleep=time.sleep, reraise=True)
        try:
            return retrying(self._attempt, state)
        except _Retryable as failure:
            attempts = state["attempt"]
            emit("request_failed", self.model_id, status=failure.status, error=failure.error, attempts=attempts)
            raise EngineRequestError(f"{self.model_id} unavailable after {attempts} attempt(s): {failure.error}",
                                     failure.status) from None

    # -- captioning -------------------------------------------------------------------------------

    def payload(self, image, params: GenerationParams) -> dict:
        style = get_style(params.style)
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": image_data_url(image, self.max_side)}},
                {"type": "text", "text": style.prompt_for_params(params)},
            ]}],
            "max_tokens": style.max_new_tokens(params.max_length),
            "stream": False,
        }
        if params.do_sample:
            body.update(temperature=params.temperature, top_p=params.top_p)
        else:
            body["temperature"] = 0.0
        if self._logprobs_ok:
            body["logprobs"] = True
        return body

    def caption_prompt(self, params: GenerationParams) -> str | None:
        return get_style(params.style).prompt_for_params(params)

    def _one(self, image, params: GenerationParams) -> tuple[RawCandidate, dict]:
        from .vlm import VLMRawCandidate

        t0 = time.perf_counter()
        body = self.request(self.payload(image, params))
        try:
            choice = body["choices"][0]
            content = choice["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise EngineRequestError(f"{self.model_id}: malformed answer (no choices[0].message.content)") from None
        if isinstance(content, list):
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        text = _THINK_RE.sub(" ", str(content or "")).strip()
        mean, n_tok = None, None
        lp = (choice.get("logprobs") or {}).get("content") if isinstance(choice.get("logprobs"), dict) else None
        if lp:
            vals = [float(t["logprob"]) for t in lp if isinstance(t, dict) and t.get("logprob") is not None]
            vals = [v for v in vals if math.isfinite(v)]
            if vals:
                mean, n_tok = sum(vals) / len(vals), len(vals)
        raw = VLMRawCandidate(text, mean, num_tokens=n_tok, style=get_style(params.style))
        info = {"generate_ms": (time.perf_counter() - t0) * 1000, "served_model": body.get("model"),
                "finish_reason": choice.get("finish_reason")}
        return raw, info

    def generate_raw(self, images: list, params: GenerationParams):  # used by Captioner.caption
        raise NotImplementedError("OpenAIEngine overrides caption()")

    def score_text(self, raw: RawCandidate):
        from .vlm import style_score_text

        return style_score_text(self, raw)

    def caption(self, images: Sequence[Any], params: GenerationParams | None = None) -> list[CaptionResult]:
        params = params if params is not None else GenerationParams()
        if not isinstance(params, GenerationParams):
            raise TypeError("params must be a GenerationParams (use GenerationParams.from_dict)")
        self.check_style(params)
        images = check_images(images)
        if not images:
            return []
        futures = [self._pool.submit(self._one, im, params) for im in images]
        partial: list[CaptionResult | None] = [None] * len(images)
        failures: dict[int, str] = {}
        for i, fut in enumerate(futures):
            try:
                raw, info = fut.result()
            except EngineRequestError as exc:
                failures[i] = exc.reason
                continue
            except Exception as exc:  # noqa: BLE001 - one image's failure must not lose the others
                failures[i] = failure_reason(exc)
                continue
            if self.itm is not None:
                self.itm.score_candidates([images[i]], [[raw]])
            # total_ms is this image's own request (the requests run concurrently: the time
            # since the batch started would be the batch's, the same for every image)
            res = self.finish([[raw]], params, {"generate_ms": info["generate_ms"]},
                              info["generate_ms"] / 1000, 1)[0]
            res.details["confidence_source"] = "logprobs" if raw.mean_logprob is not None else "unknown"
            res.details["engine"] = self.model_id
            if info.get("finish_reason"):
                res.details["finish_reason"] = info["finish_reason"]
            if info.get("served_model"):
                res.model_version = str(info["served_model"])
            res.timings["batch_size"] = len(images)
            partial[i] = res
        done = [r for r in partial if r is not None]
        stamp_style(done, params, self.caption_prompt(params))
        if failures:
            raise EngineUnavailable(self.model_id, failures, partial)
        return done  # type: ignore[return-value]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._client is not None:
            self._client.close()

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(base_url=self.base_url, model=self.model, concurrency=self.concurrency, timeout=self.timeout,
                 retries=self.retries, max_side=self.max_side, logprobs=self._logprobs_ok)
        return d
