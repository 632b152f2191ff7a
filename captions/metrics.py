"""The captioning path's Prometheus collectors, recorded where captioning happens (the worker, the
queue, model loading). Exposed at /metrics by monitoring; recording never raises (core.metrics)."""

import logging

from prometheus_client import Counter, Histogram

from core.metrics import model_label, recording

logger = logging.getLogger(__name__)

_INFERENCE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 60, 120)
_LOAD_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)
_CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)

CAPTIONS = Counter(
    "captionsite_captions", "Captions written, by model and source (model: computed, cache: reused).",
    ["model", "source"],
)
CAPTION_FAILURES = Counter(
    "captionsite_caption_failures", "Failed captioning attempts, by model and whether final.",
    ["model", "final"],
)
INFERENCE_SECONDS = Histogram(
    "captionsite_inference_seconds", "Model inference time per image.", ["model"], buckets=_INFERENCE_BUCKETS
)
CONFIDENCE = Histogram(
    "captionsite_caption_confidence", "Confidence of computed captions.", ["model"], buckets=_CONFIDENCE_BUCKETS
)
BATCH_SIZE = Histogram("captionsite_batch_size", "Images per batched model call.", buckets=_BATCH_BUCKETS)
CACHE_LOOKUPS = Counter(
    "captionsite_caption_cache_lookups", "Caption cache lookups by result (hit: reused, miss: computed).",
    ["result"],
)
MODEL_LOAD_SECONDS = Histogram(
    "captionsite_model_load_seconds", "Time to load a caption model into a worker.", ["model"],
    buckets=_LOAD_BUCKETS,
)


def observe_caption(model_id: str, seconds: float | None, confidence: float | None, reused: bool) -> None:
    """One caption written: computed by the model (reused=False, `seconds` of inference) or
    copied from the cache (reused=True)."""
    with recording("caption metrics", logger):
        model = model_label(model_id)
        CAPTIONS.labels(model=model, source="cache" if reused else "model").inc()
        CACHE_LOOKUPS.labels(result="hit" if reused else "miss").inc()
        if reused:
            return
        if seconds is not None:
            INFERENCE_SECONDS.labels(model=model).observe(max(float(seconds), 0.0))
        if confidence is not None:
            CONFIDENCE.labels(model=model).observe(float(confidence))


def observe_failure(model_id: str, final: bool = False) -> None:
    """One failed captioning attempt with `model_id` (final: the image failed for good)."""
    with recording("failure metric", logger):
        CAPTION_FAILURES.labels(model=model_label(model_id), final="true" if final else "false").inc()


def observe_batch(size: int) -> None:
    """One batched model call over `size` images."""
    with recording("batch size metric", logger):
        BATCH_SIZE.observe(size)


def observe_model_load(seconds: float, model_id: str = "") -> None:
    """A caption model loaded into a worker in `seconds`."""
    with recording("model load metric", logger):
        MODEL_LOAD_SECONDS.labels(model=model_label(model_id)).observe(max(float(seconds), 0.0))
