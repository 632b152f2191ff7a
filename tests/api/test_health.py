"""/health/ (liveness) and /health/ready/ (database, broker, worker heartbeat, model)."""

import os
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

from monitoring.models import WorkerHeartbeat

pytestmark = pytest.mark.django_db


TOKEN = "health-details-token"
DETAILS = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}


@pytest.fixture(autouse=True)
def _schedules(schedules, settings):
    settings.METRICS_TOKEN = TOKEN  # the readiness details are for the metrics token (or staff)
    return schedules


def heartbeat_task():
    schedule = Schedule.objects.get(func="monitoring.tasks.worker_heartbeat")
    assert schedule.schedule_type == Schedule.MINUTES and schedule.minutes == 1
    return async_task(schedule.func, sync=True)


def test_liveness_answers_without_any_dependency(client):
    response = client.get("/health/live/")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_the_web_health_check_answers_ok_while_the_database_answers(client):
    response = client.get("/health/")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_anonymous_callers_get_the_readiness_status_only(client, tiny_model, settings, make_user):
    heartbeat_task()
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer wrong"}, {"HTTP_AUTHORIZATION": TOKEN}):
        response = client.get("/health/ready/", **headers)
        assert response.status_code == 200 and response.json() == {"status": "ready"}, headers
    WorkerHeartbeat.objects.all().delete()
    response = client.get("/health/ready/")
    assert response.status_code == 503 and response.json() == {"status": "not ready"}
    assert response["Retry-After"]
    body = response.content.decode()
    for secret in (tiny_model, "sqlite", "redis", str(os.getpid())):
        assert secret not in body
    # Without a token configured, nobody anonymous gets details either; staff do.
    settings.METRICS_TOKEN = ""
    assert client.get("/health/ready/", HTTP_AUTHORIZATION="Bearer ").json() == {"status": "not ready"}
    client.force_login(make_user("staff@example.com", is_staff=True, perms=["monitoring.view_operations"]))
    assert "checks" in client.get("/health/ready/").json()
    client.force_login(make_user("plain@example.com"))
    assert client.get("/health/ready/").json() == {"status": "not ready"}


def test_not_ready_until_a_worker_has_reported(client):
    response = client.get("/health/ready/", **DETAILS)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]
    assert not body["checks"]["worker"]["ok"] and "qcluster" in body["checks"]["worker"]["detail"]
    assert not body["checks"]["model"]["ok"]


def test_ready_once_a_worker_loaded_the_model(client, tiny_model):
    heartbeat_task()
    response = client.get("/health/ready/", **DETAILS)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ready"
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["model"]["model"] == tiny_model


def test_a_model_the_worker_cannot_load_makes_it_not_ready_with_the_reason(client, settings, tmp_path):
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{ not json")
    settings.CAPTION_MODEL = str(broken)
    heartbeat_task()
    response = client.get("/health/ready/", **DETAILS)
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["worker"]["ok"] and not checks["model"]["ok"]
    assert "CAPTION_MODEL" in checks["model"]["detail"]


def test_a_report_about_another_model_does_not_count(client, tiny_model, settings):
    heartbeat_task()
    settings.CAPTION_MODEL = "some/other-model"
    model = client.get("/health/ready/", **DETAILS).json()["checks"]["model"]
    assert not model["ok"] and "some/other-model" in model["detail"]


def test_a_stale_heartbeat_makes_it_not_ready(client, tiny_model, settings):
    heartbeat_task()
    WorkerHeartbeat.objects.update(seen_at=timezone.now() - timedelta(seconds=settings.HEALTH_WORKER_MAX_AGE_SECONDS + 5))
    response = client.get("/health/ready/", **DETAILS)
    assert response.status_code == 503
    assert "old" in response.json()["checks"]["worker"]["detail"]


def test_the_captioning_task_beats_too(client, user):
    async_task("captions.tasks.caption_pending", sync=True)
    beat = WorkerHeartbeat.objects.get()
    assert timezone.now() - beat.seen_at < timedelta(seconds=10)
    assert beat.model_ok is None  # it says nothing about the model until the heartbeat task runs
    assert client.get("/health/ready/", **DETAILS).json()["checks"]["worker"]["ok"]


def test_health_needs_no_login_and_only_get(client):
    assert client.post("/health/").status_code == 405
    assert client.post("/health/ready/").status_code == 405
