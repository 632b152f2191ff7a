"""Prometheus metrics: the one way the layers report.

Each layer defines its Prometheus collectors where it uses them and records into them directly
(core: HTTP requests, here; captions.metrics: captions, failures, inference, batches, model loads;
feedback.metrics: ratings; mlcore.engines: inference engine events). They all live in
prometheus_client's default registry, which monitoring exposes at /metrics (adding up every
process's values in multiprocess mode). There are no observers to register.

Recording never raises: a metrics problem must not fail a caption or a request (``recording``).
"""

import contextlib
import logging
import os

from prometheus_client import Counter, Histogram

logger = logging.getLogger(__name__)

MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if MULTIPROC_DIR:
    # The value files are created as soon as a metric exists; the folder has to be there first.
    os.makedirs(MULTIPROC_DIR, exist_ok=True)

SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


@contextlib.contextmanager
def recording(what: str, log: logging.Logger = logger):
    """Run the body; an exception is logged ("Could not record the <what>") and swallowed."""
    try:
        yield
    except Exception:
        log.exception("Could not record the %s", what)


def model_label(model_id) -> str:
    return str(model_id or "unknown")[:200]


HTTP_REQUESTS = Counter(
    "captionsite_http_requests", "HTTP requests by view, method and status code.", ["view", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "captionsite_http_request_duration_seconds", "Time to answer an HTTP request, by view.", ["view"],
    buckets=SECONDS_BUCKETS,
)


def observe_http(*, view: str, method: str, status: int, seconds: float) -> None:
    """One HTTP request answered: its view name, method, status code and latency in seconds."""
    with recording("HTTP metrics"):
        HTTP_REQUESTS.labels(view=view, method=method, status=str(status)).inc()
        HTTP_LATENCY.labels(view=view).observe(seconds)
