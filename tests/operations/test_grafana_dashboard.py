"""docs/grafana-dashboard.json queries only metrics (and labels) that /metrics really exposes,
after every hook has recorded something."""

import json
import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

import mlcore.engines
from captions import metrics

pytestmark = pytest.mark.django_db

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"
METRIC = re.compile(r"\bcaptionsite_[a-z_]+")
PROMQL_WORDS = {"by", "without", "on", "ignoring", "le"}


def exposed(client, settings) -> dict[str, set[str]]:
    settings.METRICS_TOKEN = "scrape"
    metrics.observe_caption("tiny", 0.2, 0.7, reused=False)
    metrics.observe_caption("tiny", None, None, reused=True)
    metrics.observe_failure("tiny", final=True)
    metrics.observe_batch(2)
    metrics.observe_model_load(1.0, "tiny")
    events, _images = mlcore.engines.engine_collectors()
    events.labels(engine="openai:http://127.0.0.1:1/v1#m", event="request_ok").inc()
    client.get("/")
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape")
    assert response.status_code == 200
    found: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found.setdefault(sample.name, set()).update(sample.labels)
    return found


def queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_the_dashboard_covers_queue_throughput_inference_failures_and_cache():
    text = " ".join(queries())
    for needed in ("captionsite_images", "captionsite_queue_oldest_seconds", "captionsite_captions_total",
                   "captionsite_inference_seconds_bucket", "captionsite_caption_failures_total",
                   'source="cache"'):
        assert needed in text


def test_every_metric_and_label_the_dashboard_queries_exists(client, settings):
    found = exposed(client, settings)
    for expr in queries():
        names = METRIC.findall(expr)
        assert names, expr
        for name in names:
            assert name in found, f"{name} (in {expr!r}) is not exposed by /metrics"
        labels = set()
        for group in re.findall(r"\bby \(([^)]*)\)", expr):
            labels.update(label.strip() for label in group.split(","))
        for selector in re.findall(r"\{([^}]*)\}", expr):
            labels.update(re.findall(r"([a-z_]+)\s*=~?", selector))
        labels -= PROMQL_WORDS
        available = set().union(*(found[name] for name in names))
        assert labels <= available, f"{expr!r} uses labels {labels - available} that its metrics lack"
