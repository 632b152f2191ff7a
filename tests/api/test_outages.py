"""Redis or the database unreachable: rate limits fall back to this process with a logged
warning, and a dependency that does not answer is a 503 with Retry-After and a JSON `detail`,
never a 500."""

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from core import throttle
from tests.images import image_bytes, upload

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "a long and unusual passphrase 42"


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def redis_cache(url: str) -> dict:
    return {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url,
                        "KEY_PREFIX": f"outage-test-{os.getpid()}"}}


@pytest.fixture
def redis_down(settings):
    original = settings.CACHES
    settings.CACHES = redis_cache(f"redis://127.0.0.1:{closed_port()}/0")
    throttle.clear_local()
    yield
    throttle.clear_local()
    settings.CACHES = original  # before the suite's isolation fixture clears the cache


@pytest.fixture
def member(db) -> User:
    return User.objects.create_user(email="ada@example.com", password=PASSWORD)


def obtain(client, password=PASSWORD):
    return client.post(reverse("api:token-obtain"), {"email": "ada@example.com", "password": password}, format="json")


def test_with_redis_down_the_token_endpoint_answers_and_logs_a_warning(redis_down, member, caplog):
    with caplog.at_level(logging.WARNING, logger="core.throttle"):
        assert obtain(APIClient(), password="wrong").status_code == 401
        assert obtain(APIClient()).status_code == 200
    assert "cache is unreachable" in caplog.text


def test_with_redis_down_uploads_are_stored_and_limits_still_count_per_process(redis_down, member, settings):
    settings.API_RATE_UPLOAD = "3/m"
    client = APIClient()
    client.force_authenticate(member)
    for n in range(3):
        response = client.post("/api/v1/images/", {"files": [upload(f"p{n}.png", image_bytes("PNG"))]},
                               format="multipart")
        assert response.status_code == 202, response.content
    response = client.post("/api/v1/images/", {"files": [upload("p.png", image_bytes("PNG"))]}, format="multipart")
    assert response.status_code == 429 and response["Retry-After"]
    assert response.json()["code"] == "throttled"


def test_with_redis_down_the_sign_in_lockout_still_counts(redis_down, member, client, settings):
    """The lockout counts in the database (django-axes), so a cache outage changes nothing."""
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    for _ in range(2):
        response = client.post(reverse("accounts:login"), {"username": "ada@example.com", "password": "no"})
        assert response.status_code == 200
    response = client.post(reverse("accounts:login"), {"username": "ada@example.com", "password": "no"})
    assert response.status_code == 429  # the third failure starts the lockout
    response = client.post(reverse("accounts:login"), {"username": "ada@example.com", "password": PASSWORD})
    assert response.status_code == 429 and "Too many failed attempts" in response.content.decode()


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_a_real_redis_shares_the_counter_and_its_loss_is_no_500(settings, member, tmp_path):
    original = settings.CACHES
    port = closed_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.1)
        settings.CACHES = redis_cache(f"redis://127.0.0.1:{port}/0")
        settings.API_RATE_TOKEN = "4/m"
        client = APIClient()
        assert [obtain(client, password="x").status_code for _ in range(4)] == [401] * 4
        assert obtain(client).status_code == 429  # counted in Redis
        from django.core.cache import cache

        assert any(key for key in cache._cache.get_client().keys("*"))  # the counters live in Redis
    finally:
        server.terminate()
        server.wait(timeout=20)
    # Redis is gone: the next calls are answered (counted per process from here), never a 500.
    throttle.clear_local()
    statuses = [obtain(client).status_code for _ in range(3)]
    throttle.clear_local()
    settings.CACHES = original
    assert 500 not in statuses and statuses[0] == 200, statuses


# --- The database unreachable -------------------------------------------------------------------

PROBE = r"""
import json, django
django.setup()
from django.test import Client
client = Client(raise_request_exception=False)
out = {}
def record(name, response):
    out[name] = {"status": response.status_code, "retry_after": response.get("Retry-After"),
                 "type": response.get("Content-Type", ""), "body": response.content.decode()[:400]}
record("images", client.get("/api/v1/images/", HTTP_AUTHORIZATION="Api-Key abc.def"))
record("token", client.post("/api/v1/auth/token/", {"email": "a@example.com", "password": "x"},
                            content_type="application/json"))
record("health", client.get("/health/"))
record("live", client.get("/health/live/"))
record("ready", client.get("/health/ready/"))
record("login_page", client.get("/accounts/login/"))
record("login_post", client.post("/accounts/login/", {"username": "a@example.com", "password": "x"}))
print(json.dumps(out))
"""


def test_with_the_database_unreachable_every_answer_is_a_503_not_a_500(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "captionsite.test_settings", "VAR_DIR": str(tmp_path),
           "DATABASE_URL": f"postgres://nobody:secret@127.0.0.1:{closed_port()}/captionsite",
           "ALLOWED_HOSTS": "testserver", "DEBUG": "false", "LOG_FORMAT": "plain"}
    env.pop("REDIS_URL", None)
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    for name in ("images", "token", "health", "ready", "login_post"):
        assert out[name]["status"] == 503, (name, out[name])
        assert int(out[name]["retry_after"]) > 0, name
    for name in ("images", "token"):
        body = json.loads(out[name]["body"])
        assert body["code"] == "unavailable" and "unavailable" in body["detail"]
    assert json.loads(out["health"]["body"]) == {"status": "unavailable"}
    assert json.loads(out["ready"]["body"]) == {"status": "not ready"}
    assert out["live"]["status"] == 200
    assert out["login_page"]["status"] == 200  # no database needed to show the form
    assert "Service unavailable" in out["login_post"]["body"]
