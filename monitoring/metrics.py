"""Prometheus metrics of captionsite, and the hooks the captioning path calls to record them.

Multiprocess mode: when PROMETHEUS_MULTIPROC_DIR is set (gunicorn and qcluster in production),
every process writes its values to files in that folder and `/metrics` adds them all up, so
the gunicorn workers and the qcluster workers all count. Without it (development, tests), the
values live in this process only.

The hooks never raise: a metrics problem must not fail a caption or a request.
"""

import contextlib
import glob
import logging
import os

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger(__name__)

MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if MULTIPROC_DIR:
    # The value files are created as soon as a metric exists; the folder has to be there first.
    os.makedirs(MULTIPROC_DIR, exist_ok=True)

_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_INFERENCE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 60, 120)
_LOAD_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)
_CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)

HTTP_REQUESTS = Counter(
    "captionsite_http_requests", "HTTP requests by view, method and status code.", ["view", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "captionsite_http_request_duration_seconds", "Time to answer an HTTP request, by view.", ["view"],
    buckets=_SECONDS_BUCKETS,
)
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
FEEDBACK_RATINGS = Counter("captionsite_feedback_ratings", "Feedback ratings given, by stars.", ["rating"])
ENGINE_EVENTS = Counter(
    "captionsite_engine_events",
    "Inference engine events (mlcore.engines): request_ok, request_retry, request_failed, engine_failed, "
    "fallback_used, by engine spec.",
    ["engine", "event"],
)
ENGINE_IMAGES = Counter(
    "captionsite_engine_images",
    "Images an engine could not caption (engine_failed) or captioned as a fallback (fallback_used), by engine.",
    ["engine", "event"],
)


def _engine_label(engine) -> str:
    """The engine spec without credentials a URL might carry (user:password@)."""
    import re

    return re.sub(r"//[^/@#]*@", "//", str(engine or "unknown"))[:200]


def observe_engine_event(event: str, engine: str, info: dict) -> None:
    """An mlcore engine listener (mlcore.add_engine_listener, registered by monitoring at ready):
    one event of an OpenAI-compatible engine or a fallback chain (see mlcore.engines)."""
    label = _engine_label(engine)
    ENGINE_EVENTS.labels(engine=label, event=event).inc()
    images = info.get("images")
    if event in ("engine_failed", "fallback_used") and images:
        count = len(images) if isinstance(images, (list, tuple, set)) else int(images)
        ENGINE_IMAGES.labels(engine=label, event=event).inc(count)


def _model_label(model_id) -> str:
    return str(model_id or "unknown")[:200]


def observe_http(*, view: str, method: str, status: int, seconds: float) -> None:
    try:
        HTTP_REQUESTS.labels(view=view, method=method, status=str(status)).inc()
        HTTP_LATENCY.labels(view=view).observe(seconds)
    except Exception:
        logger.exception("Could not record the HTTP metrics")


def observe_caption(model_id: str, seconds: float | None, confidence: float | None, reused: bool) -> None:
    """One caption written: computed by the model (reused=False) or copied from the cache."""
    try:
        model = _model_label(model_id)
        CAPTIONS.labels(model=model, source="cache" if reused else "model").inc()
        CACHE_LOOKUPS.labels(result="hit" if reused else "miss").inc()
        if reused:
            return
        if seconds is not None:
            INFERENCE_SECONDS.labels(model=model).observe(max(float(seconds), 0.0))
        if confidence is not None:
            CONFIDENCE.labels(model=model).observe(float(confidence))
    except Exception:
        logger.exception("Could not record the caption metrics")


def observe_failure(model_id: str, final: bool = False) -> None:
    try:
        CAPTION_FAILURES.labels(model=_model_label(model_id), final="true" if final else "false").inc()
    except Exception:
        logger.exception("Could not record the failure metric")


def observe_batch(size: int) -> None:
    try:
        BATCH_SIZE.observe(size)
    except Exception:
        logger.exception("Could not record the batch size metric")


def observe_model_load(seconds: float, model_id: str = "") -> None:
    try:
        MODEL_LOAD_SECONDS.labels(model=_model_label(model_id)).observe(max(float(seconds), 0.0))
    except Exception:
        logger.exception("Could not record the model load metric")


def observe_rating(rating: int) -> None:
    try:
        FEEDBACK_RATINGS.labels(rating=str(int(rating))).inc()
    except Exception:
        logger.exception("Could not record the rating metric")


class QueueDepthCollector:
    """Images by status, read from the database at scrape time: the queue of record is the
    Image table, so this is right whichever broker or how many workers there are."""

    def collect(self):
        from django.db.models import Count, Min
        from django.utils import timezone

        from captions.models import Image
        from captions.selectors import images_stale_processing

        try:
            counts = dict(Image.objects.order_by().values_list("status").annotate(n=Count("id")))
            oldest = Image.objects.filter(status=Image.Status.QUEUED).aggregate(at=Min("available_at"))["at"]
            stale = images_stale_processing().count()
        except Exception:
            logger.exception("Could not read the queue depth for /metrics")
            return
        depth = GaugeMetricFamily("captionsite_images", "Images by status now.", labels=["status"])
        for status in Image.Status.values:
            depth.add_metric([status], counts.get(status, 0))
        yield depth
        age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
        yield GaugeMetricFamily(
            "captionsite_queue_oldest_seconds", "Age of the oldest queued image (0 when none).", value=max(age, 0.0)
        )
        yield GaugeMetricFamily(
            "captionsite_images_stale_processing",
            "Images processing for longer than CAPTION_STALE_PROCESSING_SECONDS (a stuck worker or sweep).",
            value=stale,
        )


def process_values_registry():
    """Every process's values: the multiprocess files when in that mode, else this process's."""
    if not MULTIPROC_DIR:
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=MULTIPROC_DIR)
    return registry


class _ScrapeRegistry:
    """What one scrape of the web server reports: every process's values, plus the database gauges."""

    def __init__(self, *, with_database: bool = True):
        self._process_values = process_values_registry()
        self._database = QueueDepthCollector() if with_database else None

    def collect(self):
        yield from self._process_values.collect()
        if self._database:
            yield from self._database.collect()


def exposition(*, with_database: bool = True) -> tuple[bytes, str]:
    """The Prometheus text exposition and its content type. In multiprocess mode the files of
    dead processes are merged first (multiproc_dead_files_merge), and the files are read under a
    shared lock so that a merge never runs in the middle of a scrape."""
    if not MULTIPROC_DIR:
        return generate_latest(_ScrapeRegistry(with_database=with_database)), CONTENT_TYPE_LATEST
    multiproc_dead_files_merge()
    with _multiproc_lock(exclusive=False):
        return generate_latest(_ScrapeRegistry(with_database=with_database)), CONTENT_TYPE_LATEST


# --- Files of dead processes ----------------------------------------------------------------------
# Every process that ever recorded a value leaves "<type>_<pid>.db" in PROMETHEUS_MULTIPROC_DIR,
# and gunicorn (max_requests) and django-q (recycle) replace their processes all the time: the
# folder would grow by thousands of files a day, and every scrape reads them all. Counters,
# histograms and summaries of processes that are gone are summed into one "<type>_archive.db"
# per type (totals unchanged, as counters must be) and their files deleted; live gauges of dead
# processes are removed by prometheus_client's mark_process_dead (gunicorn's child_exit).
_MERGED_TYPES = ("counter", "histogram", "summary")


@contextlib.contextmanager
def _multiproc_lock(*, exclusive: bool, folder: str | None = None):
    import fcntl

    with open(os.path.join(folder or MULTIPROC_DIR, ".merge.lock"), "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def multiproc_dead_files_merge(folder: str | None = None) -> int:
    """Merge the counter, histogram and summary files of processes of this host that no longer
    run into one archive file per type, and delete them. Returns how many files were merged.
    The folder must be this host's (pids are checked here), as it is with Compose and run.sh."""
    from prometheus_client.mmap_dict import MmapedDict

    folder = folder or MULTIPROC_DIR
    if not folder:
        return 0
    merged = 0
    with _multiproc_lock(exclusive=True, folder=folder):
        for kind in _MERGED_TYPES:
            dead = []
            for path in glob.glob(os.path.join(folder, f"{kind}_*.db")):
                pid = os.path.basename(path)[len(kind) + 1 : -3]
                if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
                    dead.append(path)
            if not dead:
                continue
            totals: dict[str, float] = {}
            for path in dead:
                for key, value, _timestamp, _position in MmapedDict.read_all_values_from_file(path):
                    totals[key] = totals.get(key, 0.0) + value
            archive = MmapedDict(os.path.join(folder, f"{kind}_archive.db"))
            try:
                for key, value in totals.items():
                    before, _ = archive.read_value(key)
                    archive.write_value(key, before + value, 0.0)
            finally:
                archive.close()
            for path in dead:
                os.unlink(path)
            merged += len(dead)
    return merged
