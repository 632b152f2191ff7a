"""/metrics: the Prometheus exposition of every collector the layers define where they use them
(core.metrics: HTTP; captions.metrics: captions, failures, inference, batches, model loads;
feedback.metrics: ratings; mlcore.engines: inference engine events), plus the queue gauges read
from the database at scrape time (here).

Multiprocess mode: when PROMETHEUS_MULTIPROC_DIR is set (gunicorn and qcluster in production),
every process writes its values to files in that folder and `/metrics` adds them all up, so
the gunicorn workers and the qcluster workers all count. Without it (development, tests), the
values live in this process only.
"""

import logging

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

import mlcore.engines
from captions import metrics as caption_metrics
from core.metrics import MULTIPROC_DIR
from feedback import metrics as feedback_metrics

logger = logging.getLogger(__name__)

__all__ = ["MULTIPROC_DIR", "QueueDepthCollector", "exposition", "process_values_registry"]

# every collector exists (and has its value file in multiprocess mode) before the first scrape
_DEFINED_WHERE_USED = (caption_metrics, feedback_metrics, mlcore.engines.engine_collectors())


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
    """The Prometheus text exposition and its content type."""
    return generate_latest(_ScrapeRegistry(with_database=with_database)), CONTENT_TYPE_LATEST
