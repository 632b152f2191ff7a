"""Waiting requests do not hold the web server: the real server (gunicorn with uvicorn workers, the
project's gunicorn.conf.py) and NO worker, so 20 concurrent predicts each wait the full
PREDICT_WAIT_SECONDS; meanwhile /health/ and the signed-in gallery answer in under a second."""

import concurrent.futures
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from rest_framework_simplejwt.tokens import RefreshToken

from tests.images import image_bytes
from tests.processes import database_url_of_this_test

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 5
CONCURRENT_PREDICTS = 20


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str, headers: dict | None = None) -> tuple[int, float, bytes]:
    started = time.monotonic()
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, time.monotonic() - started, response.read()
    except urllib.error.HTTPError as error:
        return error.code, time.monotonic() - started, error.read()


def _predict(url: str, token: str, index: int) -> tuple[int, float, bytes]:
    boundary = uuid.uuid4().hex
    data = image_bytes("PNG", size=(32, 24), color=(index * 11 % 256, 80, 160))
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p{index}.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(
        url, data=body, method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "Authorization": f"Bearer {token}"},
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, time.monotonic() - started, response.read()
    except urllib.error.HTTPError as error:
        return error.code, time.monotonic() - started, error.read()


def test_twenty_waiting_predicts_leave_health_and_the_gallery_responsive(client, user, settings, tmp_path):
    from captions.models import Image

    client.force_login(user)  # a real session row, committed: the server reads it
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    token = str(RefreshToken.for_user(user).access_token)
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "PROMETHEUS"))},
        "DJANGO_SETTINGS_MODULE": "captionsite.test_settings",
        "DATABASE_URL": database_url_of_this_test(),
        "MEDIA_ROOT": settings.MEDIA_ROOT,
        "SECRET_KEY": settings.SECRET_KEY,
        "Q_CLUSTER_NAME": settings.Q_CLUSTER["name"],
        "PREDICT_WAIT_SECONDS": str(WAIT_SECONDS),
        "API_RATE_PREDICT": "1000/m",
        "PORT": str(port),
        "LOG_FORMAT": "plain",
    }
    log = (tmp_path / "web.log").open("w")
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    server = subprocess.Popen(
        [gunicorn, "captionsite.asgi:application", "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"],
        cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _get(base + "/health/")[0] == 200:
                    break
            except OSError:
                pass
            assert server.poll() is None, (tmp_path / "web.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "web.log").read_text()
            time.sleep(0.3)
        assert "uvicorn" in (tmp_path / "web.log").read_text().lower()

        with concurrent.futures.ThreadPoolExecutor(CONCURRENT_PREDICTS) as pool:
            started = time.monotonic()
            futures = [pool.submit(_predict, base + "/api/v1/predict/", token, i) for i in range(CONCURRENT_PREDICTS)]
            # Wait until every predict is stored and waiting (each upload is a database write).
            while Image.objects.count() < CONCURRENT_PREDICTS and time.monotonic() - started < WAIT_SECONDS - 2:
                time.sleep(0.05)
            stored = Image.objects.count()
            probes = []
            for _ in range(3):
                probes.append(("health", *_get(base + "/health/")[:2]))
                probes.append(("gallery", *_get(base + "/", {"Cookie": f"{settings.SESSION_COOKIE_NAME}={session}"})[:2]))
                status, seconds, css = _get(base + "/static/css/site.css")  # WhiteNoise under ASGI
                probes.append(("static", status, seconds))
            probed_while_waiting = all(not f.done() for f in futures)
            results = [f.result() for f in futures]

        for name, status, seconds in probes:
            assert status == 200, (name, status)
            assert seconds < 1.0, f"{name} took {seconds:.2f}s while {CONCURRENT_PREDICTS} predicts waited: {probes}"
        assert probed_while_waiting, "the probes ran after the predicts had answered"
        assert css == (REPO_ROOT / "static/css/site.css").read_bytes()
        assert stored >= CONCURRENT_PREDICTS // 2, f"only {stored} predicts were waiting during the probes"
        for status, seconds, body in results:
            assert status == 202, body[:300]  # no worker: each waited, then answered 202 with the URL
            assert seconds >= WAIT_SECONDS - 0.5, seconds
        slowest = max(seconds for _, seconds, _ in results)
        print(f"\n{CONCURRENT_PREDICTS} predicts waited {WAIT_SECONDS}s (slowest {slowest:.1f}s); "
              f"/health/ and gallery meanwhile: {[f'{n} {s:.3f}s' for n, _, s in probes]}")
    finally:
        if server.poll() is None:
            os.killpg(server.pid, 15)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, 9)
        log.close()
