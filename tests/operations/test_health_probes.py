"""The probe Docker's HEALTHCHECK and Render's healthCheckPath use fails while the database is
unreachable; /health/live/ stays a pure liveness probe."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from django.urls import resolve

from monitoring import health, healthcheck

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_docker_and_render_probe_the_view_that_checks_the_database(monkeypatch):
    monkeypatch.delenv("HEALTHCHECK_PATH", raising=False)
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"HEALTHCHECK .*\n\s*CMD \[\"python\", \"-m\", \"monitoring.healthcheck\"\]", dockerfile)
    docker_path = healthcheck.health_url().split(":8000", 1)[1]
    render_path = yaml.safe_load((REPO / "render.yaml").read_text())["services"][0]["healthCheckPath"]
    for path in (docker_path, render_path):
        assert resolve(path).func is health.serving, path
    assert resolve("/health/live/").func is health.liveness


@pytest.mark.slow
def test_with_a_wrong_database_url_the_health_check_fails_and_liveness_answers(tmp_path):
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "captionsite.test_settings", "VAR_DIR": str(tmp_path),
           "DATABASE_URL": f"postgres://nobody:secret@127.0.0.1:{free_port()}/captionsite", "PORT": str(port),
           "GUNICORN_WORKERS": "1", "LOG_FORMAT": "plain", "ALLOWED_HOSTS": "localhost,127.0.0.1"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.pop("HEALTHCHECK_PATH", None)
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "captionsite.asgi:application", "--config", "gunicorn.conf.py",
                            "--bind", f"127.0.0.1:{port}"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live/", timeout=5) as response:
                    assert response.status == 200
                    break
            except (urllib.error.URLError, OSError):
                assert time.monotonic() < deadline and web.poll() is None, "gunicorn did not start"
                time.sleep(0.3)
        check = subprocess.run([sys.executable, "-m", "monitoring.healthcheck"], cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 1 and "HTTP Error 503" in check.stderr, check.stderr
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=30)
