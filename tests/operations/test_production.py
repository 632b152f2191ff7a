"""The production configuration, started for real: gunicorn (2 workers) and a qcluster on a fresh
PostgreSQL database and Redis, production settings (DEBUG off, collected static files, JSON
logs, multiprocess metrics), the tiny BLIP as CAPTION_MODEL. A user signs up and uploads images
over HTTP, and the gallery shows their captions."""

import http.cookiejar
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import psycopg
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from tests.images import image_bytes

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
POSTGRES_ADMIN_URL = os.environ.get("E2E_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_SERVER_URL = os.environ.get("E2E_REDIS_URL", "redis://127.0.0.1:6379")
REDIS_DB = 14  # this test's own database number on the Redis server


@pytest.fixture
def fresh_postgres_url():
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        pytest.fail(
            f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} ({error}). Start it (.ci/run does) "
            "or point E2E_POSTGRES_URL at a server where this user may create databases."
        )
    name = f"captionsite_e2e_{secrets.token_hex(4)}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urllib.parse.urlunsplit(urllib.parse.urlsplit(POSTGRES_ADMIN_URL)._replace(path=f"/{name}"))
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def redis_namespace():
    url = f"{REDIS_SERVER_URL.rstrip('/')}/{REDIS_DB}"
    client = redis.Redis.from_url(url, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.fail(f"Redis is not reachable at {url} ({error}). Start it (.ci/run does) or set E2E_REDIS_URL.")
    name = f"captionsite-e2e-{secrets.token_hex(4)}"
    try:
        yield url, name
    finally:
        for key in client.scan_iter(match=f"*{name}*"):
            client.delete(key)
        client.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Processes:
    """Started in their own process groups, so stopping one stops its children too."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, name: str, command: list[str], env: dict) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("w")
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.running[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def check_alive(self) -> None:
        for name, process in self.running.items():
            if process.poll() is not None:
                pytest.fail(f"{name} exited with status {process.returncode}:\n{self.log(name)[-4000:]}")

    def stop_all(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.running.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


class Browser:
    """A cookie-keeping HTTP client that fills Django forms like a browser does."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def request(self, path: str, data: bytes | None = None, headers: dict | None = None):
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers or {})
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.geturl(), response.read().decode(), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.url, error.read().decode(errors="replace"), dict(error.headers)
        except urllib.error.URLError as error:  # not listening yet
            return 0, request.full_url, str(error), {}

    def csrf_token(self, path: str) -> str:
        status, _, html, _ = self.request(path)
        assert status == 200, html[:2000]
        return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)

    def post_form(self, path: str, fields: dict):
        fields = {"csrfmiddlewaretoken": self.csrf_token(path), **fields}
        return self.request(path, urllib.parse.urlencode(fields).encode(),
                            {"Content-Type": "application/x-www-form-urlencoded"})

    def post_files(self, path: str, field: str, files: list[tuple[str, bytes, str]]):
        boundary = uuid.uuid4().hex
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n{self.csrf_token(path)}\r\n'.encode()
        ]
        for filename, content, content_type in files:
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
                f"Content-Type: {content_type}\r\n\r\n".encode() + content + b"\r\n"
            )
        parts.append(f"--{boundary}--\r\n".encode())
        return self.request(path, b"".join(parts), {"Content-Type": f"multipart/form-data; boundary={boundary}"})


def wait_for(condition, *, timeout: float, interval: float, what: str, processes: Processes):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        processes.check_alive()
        result = condition()
        if result:
            return result
        time.sleep(interval)
    pytest.fail(f"Timed out after {timeout:.0f}s waiting for {what}.\n--- web ---\n{processes.log('web')[-3000:]}"
                f"\n--- worker ---\n{processes.log('worker')[-3000:]}")


def metric_samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_production_setup_captions_images_uploaded_over_http(
    fresh_postgres_url, redis_namespace, tiny_blip_dir, tmp_path
):
    redis_url, cluster_name = redis_namespace
    port = free_port()
    metrics_token = secrets.token_urlsafe(24)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECURE_", "PROMETHEUS"))},
        "DJANGO_SETTINGS_MODULE": "captionsite.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": fresh_postgres_url,
        "REDIS_URL": redis_url,
        "Q_CLUSTER_NAME": cluster_name,
        "CACHE_KEY_PREFIX": cluster_name,
        "CAPTION_MODEL": tiny_blip_dir,
        "CAPTION_DEVICE": "cpu",
        "VAR_DIR": str(tmp_path / "var"),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "LOG_FORMAT": "json",
        "METRICS_TOKEN": metrics_token,
        "METRICS_ALLOWED_IPS": "",
        "GUNICORN_WORKERS": "2",
        "GUNICORN_THREADS": "2",
        "PORT": str(port),
    }
    for step in (["migrate", "--noinput"], ["setup_schedules"], ["collectstatic", "--noinput", "--verbosity", "0"]):
        done = subprocess.run([sys.executable, "manage.py", *step], cwd=REPO_ROOT, env=env,
                              capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr

    processes = Processes(tmp_path)
    try:
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        processes.start("web", [gunicorn, "captionsite.asgi:application", "--config", "gunicorn.conf.py"], env)
        processes.start("worker", [sys.executable, "manage.py", "qcluster"], env)
        site = Browser(f"http://127.0.0.1:{port}")
        wait_for(lambda: site.request("/health/")[0] == 200, timeout=60, interval=0.5,
                 what="the web server's /health/", processes=processes)

        # The container's health check command, against the real server.
        health = subprocess.run([sys.executable, "-m", "monitoring.healthcheck"], cwd=REPO_ROOT, env=env,
                                capture_output=True, text=True, timeout=30)
        assert health.returncode == 0, health.stderr

        status, url, html, _ = site.post_form(
            "/accounts/signup/",
            {"email": "operator@example.com", "password1": "a long enough passphrase 42",
             "password2": "a long enough passphrase 42"},
        )
        assert status == 200 and urllib.parse.urlsplit(url).path == "/", html[:3000]

        colors = [(250, 10, 10), (10, 250, 10), (10, 10, 250)]
        files = [(f"photo-{i}.jpg", image_bytes("JPEG", size=(80, 60), color=c), "image/jpeg") for i, c in enumerate(colors)]
        status, url, html, _ = site.post_files("/upload/", "images", files)
        assert status == 200 and "3 images queued for captioning" in html, html[:3000]

        def all_done():
            html = site.request("/")[2]
            return html if html.count('data-status="done"') == 3 else None

        gallery = wait_for(all_done, timeout=120, interval=1, what="three captioned images", processes=processes)
        captions = re.findall(r'<p class="caption">(.*?)</p>', gallery, re.S)
        assert len(captions) == 3
        assert all(text.strip() and "Waiting" not in text for text in captions), captions

        # Static files come from the collected, hashed set (DEBUG is off).
        css = re.search(r'href="(/static/css/site\.[0-9a-f]+\.css)"', gallery)
        assert css, "the page links the hashed stylesheet"
        assert site.request(css.group(1))[0] == 200

        # /metrics wants the token (the allowlist is empty here).
        assert site.request("/metrics")[0] == 403
        status, _, exposition, _ = site.request("/metrics", headers={"Authorization": f"Bearer {metrics_token}"})
        assert status == 200
        samples = metric_samples(exposition)
        assert samples[("captionsite_images", (("status", "done"),))] == 3
        upload_key = (
            "captionsite_http_requests_total",
            (("method", "POST"), ("status", "302"), ("view", "captions:upload")),
        )
        assert samples[upload_key] == 1
        gallery_views = sum(
            value for (name, labels), value in samples.items()
            if name == "captionsite_http_requests_total" and ("view", "captions:gallery") in labels
        )
        assert gallery_views >= 3  # counted in whichever gunicorn worker answered: multiprocess mode
        # Written by the qcluster worker process, read by the web server.
        captioned = sum(
            value for (name, labels), value in samples.items() if name == "captionsite_captions_total"
        )
        assert captioned == 3, "the captioning path records captions.metrics (observe_caption)"
        computed = sum(value for (name, labels), value in samples.items()
                       if name == "captionsite_captions_total" and ("source", "model") in labels)
        timed = sum(value for (name, _), value in samples.items() if name == "captionsite_inference_seconds_count")
        assert timed == computed >= 1
        assert samples[("captionsite_batch_size_count", ())] >= 1
        assert sum(value for (name, _), value in samples.items() if name == "captionsite_model_load_seconds_count") >= 1

        # JSON logs: the app's access lines carry the request id.
        entries = [json.loads(line) for line in processes.log("web").splitlines() if line.startswith("{")]
        uploads = [e for e in entries if e.get("logger") == "monitoring.requests" and e.get("method") == "POST" and e.get("path") == "/upload/"]
        assert uploads and uploads[0]["status"] == 302 and len(uploads[0]["request_id"]) == 32
    finally:
        processes.stop_all()
    assert all(process.returncode is not None for process in processes.running.values())
