"""/metrics: the Prometheus exposition of every collector the layers define where they use them
(core.metrics: HTTP; captions.metrics: captions, failures, inference, batches, model loads;
feedback.metrics: ratings; mlcore.engines: inference engine events), plus the queue gauges read
from the database at scrape time (here).

Multiprocess mode: when PROMETHEUS_MULTIPROC_DIR is set (gunicorn and qcluster in production),
every process writes its values to files in that folder and `/metrics` adds them all up, so
the gunicorn workers and the qcluster workers all count. Without it (development, tests), the
values live in this process only.
"""

import contextlib
import glob
import logging
import os

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
