"""Reads of the monitoring app: the dashboard's numbers, computed from the database alone (so
the page is right without Prometheus), and the evaluation runs."""

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.apps import apps
from django.db.models import Count, Min, Q
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from captions.models import Caption, Image
from captions.selectors import captioning_defaults
from monitoring.models import EvaluationRun, WorkerHeartbeat

PERIODS = {
    "24h": (timedelta(hours=24), "hour"),
    "7d": (timedelta(days=7), "hour"),
    "30d": (timedelta(days=30), "day"),
}
DEFAULT_PERIOD = "24h"
# Distributions read at most this many captions of the period (the newest): enough for stable
# percentiles and histograms, bounded work for a page view.
SAMPLE_LIMIT = 20_000
COMPARED_RUNS_DEFAULT = 5
CONFIDENCE_BINS = 10
LENGTH_BINS = 20  # 1..19 words, then "20+"

_WORD = re.compile(r"[a-z0-9']+")


@dataclass(frozen=True)
class Bar:
    label: str
    value: float


@dataclass
class ActiveModel:
    spec: str
    model_id: str = ""
    model_version: str = ""
    last_evaluation: EvaluationRun | None = None
    # The workers that loaded it in the last day, newest first: device, dtype and why (model_info).
    workers: list[WorkerHeartbeat] = field(default_factory=list)


@dataclass
class Dashboard:
    period: str
    since: datetime
    bucket: str
    captioned_per_bucket: list[Bar]
    captioned_total: int
    inference_p50_ms: float | None
    inference_p95_ms: float | None
    inference_samples: int
    finished: int
    failed: int
    error_rate: float | None
    cache_hits: int
    cache_lookups: int
    cache_hit_rate: float | None
    queue: dict[str, int]
    oldest_queued_seconds: float | None
    confidence_histogram: list[Bar]
    length_histogram: list[Bar]
    words: int
    distinct_words: int
    vocabulary_diversity: float | None
    needs_review: int
    needs_review_share: float | None
    ratings: list[Bar] | None  # None: the feedback app is not installed
    ratings_count: int
    calibration: object | None
    active_model: ActiveModel
    runs: list[EvaluationRun] = field(default_factory=list)  # compared side by side
    run_metrics: list[str] = field(default_factory=list)
    all_runs: list[EvaluationRun] = field(default_factory=list)  # to choose from


def period_or_default(value: str | None) -> str:
    return value if value in PERIODS else DEFAULT_PERIOD


def dashboard_for(*, period: str, run_ids: list[int] | None = None, now: datetime | None = None) -> Dashboard:
    now = now or timezone.now()
    period = period_or_default(period)
    span, bucket = PERIODS[period]
    since = now - span

    per_bucket = _captioned_per_bucket(since=since, now=now, bucket=bucket)
    finished = Image.objects.filter(finished_at__gte=since, status__in=Image.FINAL_STATUSES)
    done = finished.filter(status=Image.Status.DONE).count()
    failed = finished.filter(status=Image.Status.FAILED).count()

    period_captions = Caption.objects.filter(created_at__gte=since)
    cache_counts = period_captions.aggregate(
        hits=Count("id", filter=Q(source=Caption.Source.CACHE)),
        lookups=Count("id", filter=Q(source__in=[Caption.Source.CACHE, Caption.Source.MODEL])),
    )
    computed = period_captions.filter(source=Caption.Source.MODEL).order_by("-created_at")
    timings = sorted(
        ms for ms in computed.exclude(inference_ms__isnull=True).values_list("inference_ms", flat=True)[:SAMPLE_LIMIT]
    )
    confidences = list(computed.exclude(confidence__isnull=True).values_list("confidence", flat=True)[:SAMPLE_LIMIT])
    texts = list(computed.values_list("text", flat=True)[:SAMPLE_LIMIT])
    word_lists = [_WORD.findall(text.lower()) for text in texts]
    all_words = [word for words in word_lists for word in words]

    needs_review = finished.filter(status=Image.Status.DONE, current_caption__needs_review=True).count()
    ratings, ratings_count = _ratings(since=since)

    queue = dict(Image.objects.order_by().values_list("status").annotate(n=Count("id")))
    oldest = Image.objects.filter(status=Image.Status.QUEUED).aggregate(at=Min("available_at"))["at"]
    runs = evaluation_runs_compared(run_ids)

    return Dashboard(
        period=period,
        since=since,
        bucket=bucket,
        captioned_per_bucket=per_bucket,
        captioned_total=int(sum(bar.value for bar in per_bucket)),
        inference_p50_ms=_percentile(timings, 50),
        inference_p95_ms=_percentile(timings, 95),
        inference_samples=len(timings),
        finished=done + failed,
        failed=failed,
        error_rate=_share(failed, done + failed),
        cache_hits=cache_counts["hits"],
        cache_lookups=cache_counts["lookups"],
        cache_hit_rate=_share(cache_counts["hits"], cache_counts["lookups"]),
        queue={status: queue.get(status, 0) for status in Image.Status.values},
        oldest_queued_seconds=max((now - oldest).total_seconds(), 0.0) if oldest else None,
        confidence_histogram=_confidence_histogram(confidences),
        length_histogram=_length_histogram(word_lists),
        words=len(all_words),
        distinct_words=len(set(all_words)),
        vocabulary_diversity=_share(len(set(all_words)), len(all_words)),
        needs_review=needs_review,
        needs_review_share=_share(needs_review, done),
        ratings=ratings,
        ratings_count=ratings_count,
        calibration=_latest_calibration(),
        active_model=_active_model(),
        runs=runs,
        run_metrics=_metric_names(runs),
        all_runs=evaluation_runs(),
    )


def evaluation_runs(limit: int = 50) -> list[EvaluationRun]:
    return list(EvaluationRun.objects.order_by("-created_at", "-id")[:limit])


def evaluation_runs_compared(run_ids: list[int] | None) -> list[EvaluationRun]:
    """The chosen runs (oldest first, so a model's progress reads left to right), or the latest few."""
    runs = EvaluationRun.objects.filter(status=EvaluationRun.Status.DONE)
    if run_ids:
        runs = runs.filter(id__in=run_ids)
    chosen = list(runs.order_by("-created_at", "-id")[: max(len(run_ids or []), COMPARED_RUNS_DEFAULT)])
    return list(reversed(chosen))


def _metric_names(runs: list[EvaluationRun]) -> list[str]:
    names: dict[str, None] = {}
    for run in runs:
        for name, value in run.scores.items():
            if isinstance(value, (int, float)):
                names[name] = None
    return list(names)


def _captioned_per_bucket(*, since: datetime, now: datetime, bucket: str) -> list[Bar]:
    trunc = TruncHour if bucket == "hour" else TruncDay
    rows = (
        Image.objects.filter(status=Image.Status.DONE, finished_at__gte=since)
        .annotate(slot=trunc("finished_at"))
        .order_by()
        .values("slot")
        .annotate(n=Count("id"))
    )
    counts = {_slot_start(row["slot"], bucket): row["n"] for row in rows}
    step = timedelta(hours=1) if bucket == "hour" else timedelta(days=1)
    slot = _slot_start(since, bucket)
    bars = []
    label_format = "%H:00" if bucket == "hour" else "%b %d"
    while slot <= now:
        local = timezone.localtime(slot)
        bars.append(Bar(label=local.strftime(label_format), value=counts.get(slot, 0)))
        slot += step
    return bars


def _slot_start(moment: datetime, bucket: str) -> datetime:
    local = timezone.localtime(moment)
    if bucket == "hour":
        local = local.replace(minute=0, second=0, microsecond=0)
    else:
        local = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return local.astimezone(timezone.get_current_timezone())


def _percentile(sorted_values: list[float], percent: int) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = max(1, -(-percent * len(sorted_values) // 100))
    return float(sorted_values[rank - 1])


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _confidence_histogram(confidences: list[float]) -> list[Bar]:
    counts = [0] * CONFIDENCE_BINS
    for value in confidences:
        counts[min(max(int(value * CONFIDENCE_BINS), 0), CONFIDENCE_BINS - 1)] += 1
    width = 1 / CONFIDENCE_BINS
    return [Bar(label=f"{i * width:.1f}", value=n) for i, n in enumerate(counts)]


def _length_histogram(word_lists: list[list[str]]) -> list[Bar]:
    lengths = Counter(min(len(words), LENGTH_BINS) for words in word_lists)
    return [
        Bar(label=f"{n}+" if n == LENGTH_BINS else str(n), value=lengths.get(n, 0)) for n in range(1, LENGTH_BINS + 1)
    ]


def _ratings(*, since: datetime) -> tuple[list[Bar] | None, int]:
    if not apps.is_installed("feedback"):
        return None, 0
    feedback_model = apps.get_model("feedback", "Feedback")
    counts = dict(
        feedback_model.objects.filter(updated_at__gte=since).order_by().values_list("rating").annotate(n=Count("id"))
    )
    return [Bar(label=f"{stars}★", value=counts.get(stars, 0)) for stars in range(1, 6)], sum(counts.values())


def _latest_calibration():
    if not apps.is_installed("feedback"):
        return None
    calibration_model = apps.get_model("feedback", "ConfidenceCalibration")
    return calibration_model.objects.order_by("-created_at", "-id").first()


def _active_model() -> ActiveModel:
    spec = captioning_defaults().model_spec
    latest = (
        Caption.objects.filter(source=Caption.Source.MODEL)
        .order_by("-created_at", "-id")
        .values("model_id", "model_version")
        .first()
    )
    active = ActiveModel(spec=spec, **(latest or {}))
    evaluations = EvaluationRun.objects.filter(status=EvaluationRun.Status.DONE)
    matching = Q(model_spec=spec)
    if active.model_id:
        matching |= Q(model_id=active.model_id)
    active.last_evaluation = evaluations.filter(matching).order_by("-created_at", "-id").first()
    active.workers = list(
        WorkerHeartbeat.objects.filter(model_ok=True, seen_at__gte=timezone.now() - timedelta(days=1))
        .exclude(model_info={})
        .order_by("-seen_at")[:10]
    )
    return active


def latest_worker_heartbeat() -> WorkerHeartbeat | None:
    """The most recent heartbeat of any worker (None: no worker has reported yet)."""
    return WorkerHeartbeat.objects.order_by("-seen_at").first()


def workers_seen_count(*, max_age_seconds: int) -> int:
    """How many workers sent a heartbeat in the last ``max_age_seconds``."""
    return WorkerHeartbeat.objects.filter(seen_at__gte=timezone.now() - timedelta(seconds=max_age_seconds)).count()


def latest_model_report(spec: str) -> WorkerHeartbeat | None:
    """The heartbeat of the worker that last tried to load ``spec`` (model_ok, model_error,
    model_checked_at), or None when none has."""
    return (
        WorkerHeartbeat.objects.filter(model_spec=spec, model_checked_at__isnull=False)
        .order_by("-model_checked_at")
        .first()
    )


def recent_worker_reports(*, max_age_seconds: int, limit: int = 50) -> list[dict]:
    """The heartbeats of workers seen in the last ``max_age_seconds`` (at most ``limit``), as dicts
    with worker_id, model_spec, model_ok (None: not checked), model_error and busy_since (None:
    idle). One query."""
    cutoff = timezone.now() - timedelta(seconds=max_age_seconds)
    return list(
        WorkerHeartbeat.objects.filter(seen_at__gte=cutoff)
        .order_by("-seen_at")
        .values("worker_id", "model_spec", "model_ok", "model_error", "busy_since")[:limit]
    )
