"""Under ASGI (gunicorn with uvicorn workers), file responses stream from an async iterator:
Django's handler otherwise warns "StreamingHttpResponse must consume synchronous iterators" on
every static file and image, and reads the whole file into memory first (sync_to_async(list)).
Requests go through the project's real ASGI application (captionsite.asgi), as uvicorn calls it."""

import asyncio
import warnings

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from captions.services.submission import image_submit
from tests.images import image_bytes, upload

pytestmark = pytest.mark.django_db(transaction=True)  # the ASGI handler's threads use their own connections


def asgi_get(path: str, cookies: dict[str, str] | None = None) -> tuple[int, dict, bytes, list[str]]:
    """One GET through captionsite.asgi.application: (status, headers, body, warnings raised)."""
    from captionsite.asgi import application

    path, _, query = path.partition("?")
    cookie = "; ".join(f"{k}={v}" for k, v in (cookies or {}).items())
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
        "headers": [(b"host", b"testserver"), *([(b"cookie", cookie.encode())] if cookie else [])],
        "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }
    messages: list[dict] = []

    async def run():
        body_sent = asyncio.Event()

        async def receive():
            if not body_sent.is_set():
                body_sent.set()
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()  # the client stays connected

        async def send(message):
            messages.append(message)

        await application(scope, receive, send)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(run())
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, body, [str(w.message) for w in caught]


def streaming_warnings(caught: list[str]) -> list[str]:
    return [w for w in caught if "StreamingHttpResponse" in w]


def test_a_static_file_streams_without_the_sync_iterator_warning():
    status, headers, body, caught = asgi_get("/static/css/site.css")
    assert status == 200 and headers["content-type"].startswith("text/css")
    assert body and len(body) == int(headers["content-length"])
    assert streaming_warnings(caught) == []


@pytest.fixture
def session_of(user):
    client = Client()
    client.force_login(user)
    return {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}


def test_an_image_file_and_an_export_download_stream_without_the_warning(user, session_of):
    data = image_bytes("PNG", size=(300, 200))
    result = image_submit(owner=user, files=[upload("a.png", data, "image/png")])
    image = result.accepted[0]
    status, headers, body, caught = asgi_get(reverse("captions:image_original", args=[image.public_id]), session_of)
    assert status == 200 and body == data and headers["content-type"] == "image/png"
    assert streaming_warnings(caught) == []
    status, headers, body, caught = asgi_get(reverse("captions:image_thumbnail", args=[image.public_id]), session_of)
    assert status == 200 and body[:4] in (b"\x89PNG", b"RIFF", b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xdb")
    assert streaming_warnings(caught) == []
    export = reverse("captions:batch_export", args=[result.batch.pk]) if result.batch else None
    if export is None:  # one file makes no batch: export a batch of two
        two = image_submit(owner=user, files=[upload("b.png", data, "image/png"), upload("c.png", data, "image/png")])
        export = reverse("captions:batch_export", args=[two.batch.pk])
    status, headers, body, caught = asgi_get(export + "?format=csv", session_of)
    assert status == 200 and "attachment" in headers["content-disposition"] and b"b.png" in body
    assert streaming_warnings(caught) == []
