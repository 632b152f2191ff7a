"""/metrics: Prometheus exposition, who may read it, and what the hooks and middleware record."""

import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from captions import metrics
from feedback import metrics as feedback_metrics
from tests.images import image_bytes, upload

pytestmark = pytest.mark.django_db

SCRAPE_TOKEN = "scrape-token"


@pytest.fixture(autouse=True)
def _metrics_token(settings):
    settings.METRICS_TOKEN = SCRAPE_TOKEN


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    headers.setdefault("HTTP_AUTHORIZATION", f"Bearer {SCRAPE_TOKEN}")
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_http_requests_are_counted_by_view_name_and_status(client, logged_in_client):
    before = scrape(client)
    logged_in_client.get("/")
    logged_in_client.get("/")
    client.get("/no/such/page/")
    after = scrape(client)

    gallery = dict(view="captions:gallery", method="GET", status="200")
    assert value(after, "captionsite_http_requests_total", **gallery) - value(
        before, "captionsite_http_requests_total", **gallery
    ) == 2
    unmatched = dict(view="unmatched", method="GET", status="404")
    assert value(after, "captionsite_http_requests_total", **unmatched) - value(
        before, "captionsite_http_requests_total", **unmatched
    ) == 1
    count = "captionsite_http_request_duration_seconds_count"
    assert value(after, count, view="captions:gallery") - value(before, count, view="captions:gallery") == 2


def test_an_invented_http_method_is_counted_as_other(client):
    before = scrape(client)
    client.generic("BREW", "/")
    after = scrape(client)
    labels = dict(view="captions:gallery", method="other", status="405")  # the gallery answers GET only
    assert value(after, "captionsite_http_requests_total", **labels) - value(
        before, "captionsite_http_requests_total", **labels
    ) == 1


def test_queue_depth_comes_from_the_database_at_scrape_time(client, logged_in_client):
    assert value(scrape(client), "captionsite_images", status="queued") == 0
    logged_in_client.post(
        "/upload/", {"images": [upload("a.jpg", image_bytes("JPEG")), upload("b.png", image_bytes("PNG"))]}
    )
    samples = scrape(client)
    assert value(samples, "captionsite_images", status="queued") == 2
    assert value(samples, "captionsite_images", status="done") == 0
    assert ("captionsite_queue_oldest_seconds", ()) in samples


def test_caption_hooks_record_inference_confidence_cache_and_failures(client):
    before = scrape(client)
    metrics.observe_caption("tiny-model", 0.2, 0.75, reused=False)
    metrics.observe_caption("tiny-model", 0.4, 0.25, reused=False)
    metrics.observe_caption("tiny-model", None, None, reused=True)
    metrics.observe_failure("tiny-model", final=True)
    metrics.observe_batch(3)
    metrics.observe_model_load(1.5, "tiny-model")
    feedback_metrics.observe_rating(4)
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("captionsite_captions_total", model="tiny-model", source="model") == 2
    assert delta("captionsite_captions_total", model="tiny-model", source="cache") == 1
    assert delta("captionsite_caption_cache_lookups_total", result="hit") == 1
    assert delta("captionsite_caption_cache_lookups_total", result="miss") == 2
    assert delta("captionsite_inference_seconds_count", model="tiny-model") == 2
    assert delta("captionsite_inference_seconds_sum", model="tiny-model") == pytest.approx(0.6)
    assert delta("captionsite_caption_confidence_bucket", model="tiny-model", le="0.3") == 1
    assert delta("captionsite_caption_confidence_bucket", model="tiny-model", le="0.8") == 2
    assert delta("captionsite_caption_failures_total", model="tiny-model", final="true") == 1
    assert delta("captionsite_batch_size_bucket", le="4.0") == 1
    assert delta("captionsite_batch_size_bucket", le="2.0") == 0
    assert delta("captionsite_model_load_seconds_count", model="tiny-model") == 1
    assert delta("captionsite_feedback_ratings_total", rating="4") == 1


def test_a_hook_given_nonsense_does_not_raise(caplog):
    with caplog.at_level(logging.ERROR):
        metrics.observe_caption("m", "not a number", None, reused=False)
        feedback_metrics.observe_rating("five")
    assert "Could not record" in caplog.text


def test_by_default_anonymous_scrapes_are_refused_even_from_localhost(client, settings, make_user):
    """Behind a reverse proxy on the same host every visitor arrives from 127.0.0.1."""
    from captionsite import settings as project_settings

    assert project_settings.METRICS_ALLOWED_IPS == []
    settings.METRICS_ALLOWED_IPS = project_settings.METRICS_ALLOWED_IPS
    settings.METRICS_TOKEN = ""
    for address in ("127.0.0.1", "::1", "203.0.113.9"):
        response = client.get("/metrics", REMOTE_ADDR=address)
        assert response.status_code == 403 and b"METRICS_TOKEN" in response.content
    # With no token configured, "Bearer " with an empty token must not match.
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403
    client.force_login(make_user("plain@example.com"))
    assert client.get("/metrics").status_code == 403
    # Staff status alone (the admin's door) is not enough: the view_operations permission is.
    client.force_login(make_user("staff@example.com", is_staff=True))
    assert client.get("/metrics").status_code == 403
    client.force_login(make_user("ops@example.com", is_staff=True, perms=["monitoring.view_operations"]))
    assert client.get("/metrics").status_code == 200


def test_an_address_outside_the_allowlist_is_refused(client, settings):
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200


def test_a_bearer_token_opens_metrics_from_anywhere(client, settings):
    settings.METRICS_ALLOWED_IPS = []
    settings.METRICS_TOKEN = "s3cret-token"
    refused = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert refused.status_code == 403
    assert b"METRICS_TOKEN" in refused.content
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    ok = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert ok.status_code == 200
    assert b"captionsite_images" in ok.content


def test_a_forwarded_for_header_does_not_pass_the_allowlist(client, settings):
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1"]
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics", REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert response.status_code == 403


def test_metrics_can_be_switched_off(client, settings):
    settings.METRICS_ENABLED = False
    assert client.get("/metrics").status_code == 404


def test_every_response_carries_a_request_id(client):
    generated = client.get("/accounts/login/")["X-Request-ID"]
    assert len(generated) == 32
    assert client.get("/accounts/login/", HTTP_X_REQUEST_ID="proxy-abc.123")["X-Request-ID"] == "proxy-abc.123"
    unsafe = client.get("/accounts/login/", HTTP_X_REQUEST_ID="bad id\r\nx")["X-Request-ID"]
    assert unsafe != "bad id\r\nx" and len(unsafe) == 32


def test_request_log_lines_are_json_with_the_request_id(client, settings):
    from core.logs import JsonFormatter, RequestIdFilter

    settings.LOG_REQUESTS = True
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    request_logger = logging.getLogger("monitoring.requests")
    request_logger.addHandler(handler)
    request_logger.setLevel(logging.INFO)
    try:
        client.get("/accounts/login/", HTTP_X_REQUEST_ID="trace-42")
    finally:
        request_logger.removeHandler(handler)

    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["request_id"] == "trace-42"
    assert entry["logger"] == "monitoring.requests"
    assert entry["status"] == 200
    assert entry["path"] == "/accounts/login/"
    assert entry["view"] == "accounts:login"
    assert entry["level"] == "INFO"
    assert isinstance(entry["duration_ms"], float)
