"""Uploads sent with Transfer-Encoding: chunked (no Content-Length), through real gunicorn servers
started here on the test database: under ASGI (uvicorn workers, how the site runs) and under WSGI
(gunicorn's sync workers), with the same limits as a body of declared length."""

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from captions.models import Image
from tests.images import image_bytes
from tests.processes import database_url_of_this_test

REPO = Path(__file__).resolve().parents[2]
BOUNDARY = "chunked-boundary"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _multipart(files: list[tuple[str, bytes]]) -> bytes:
    body = b""
    for name, data in files:
        body += (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
                 "Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode()


@pytest.fixture(params=["asgi", "wsgi"])
def server(request, settings, user, tmp_path):
    from accounts import services as account_services

    _, key = account_services.api_key_create(owner=user, name="chunked")
    port = _free_port()
    kind = request.param
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "captionsite.test_settings",
        "DATABASE_URL": database_url_of_this_test(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "FILE_UPLOAD_TEMP_DIR": str(tmp_path / "upload-tmp"),
        "MAX_UPLOAD_BYTES": "300000",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_WORKER_CLASS": "uvicorn_worker.UvicornWorker" if kind == "asgi" else "sync",
        "GUNICORN_CONTROL_SOCKET": "off",
        "API_RATE_UPLOAD": "1000/m",
    }
    app = "captionsite.asgi:application" if kind == "asgi" else "captionsite.wsgi:application"
    log = open(tmp_path / "gunicorn.log", "w+")  # noqa: SIM115 (closed below)
    master = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", app],
                              cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/health/live/")
                connection.getresponse().read()
                break
            except OSError:
                if time.monotonic() > deadline or master.poll() is not None:
                    log.seek(0)
                    raise AssertionError(f"the {kind} server did not start:\n{log.read()}") from None
                time.sleep(0.2)
        yield port, key
    finally:
        master.terminate()
        master.wait(timeout=30)
        log.close()


def post_chunked(port: int, key: str, body: bytes, chunk: int = 8192):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    parts = (body[i:i + chunk] for i in range(0, len(body), chunk))
    connection.request("POST", "/api/v1/images/", body=parts, encode_chunked=True, headers={
        "Authorization": f"Api-Key {key}", "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Accept": "application/json",
    })
    response = connection.getresponse()
    return response.status, response.read()


@pytest.mark.django_db(transaction=True)
def test_a_chunked_upload_is_accepted(server):
    port, key = server
    status, content = post_chunked(port, key, _multipart([("a.jpg", image_bytes("JPEG")), ("b.png", image_bytes("PNG"))]))
    assert status == 202, content
    assert sorted(Image.objects.values_list("original_filename", flat=True)) == ["a.jpg", "b.png"]


@pytest.mark.django_db(transaction=True)
def test_a_chunked_upload_obeys_the_per_file_limit(server):
    port, key = server
    big = os.urandom(400_000)  # over MAX_UPLOAD_BYTES (300000)
    status, content = post_chunked(port, key, _multipart([("big.jpg", big), ("small.jpg", image_bytes("JPEG"))]))
    assert status == 202, content
    refused = json.loads(content)["refused"]
    assert [r["filename"] for r in refused] == ["big.jpg"] and "limit" in refused[0]["reason"]
    assert list(Image.objects.values_list("original_filename", flat=True)) == ["small.jpg"]


@pytest.mark.django_db
def test_a_chunked_body_a_wsgi_server_cannot_delimit_is_answered_411(api):
    """A WSGI server that does not say where a chunked body ends (wsgi.input_terminated unset, as
    Django's development server): a clear 411, not 400 "Choose at least one image"."""
    body = _multipart([("a.jpg", image_bytes("JPEG"))])
    response = api.generic("POST", "/api/v1/images/", body, content_type=f"multipart/form-data; boundary={BOUNDARY}",
                           HTTP_TRANSFER_ENCODING="chunked", CONTENT_LENGTH="")
    assert response.status_code == 411
    assert "Content-Length" in response.json()["detail"]
