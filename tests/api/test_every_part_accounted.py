"""Every file part of a multipart body is a file of the request (stored, or refused by name), or
the whole body is refused with a 400 that says why and stores nothing: parts the parser cannot
read (named "." or "..", a filename* in an unknown charset), a body without its closing boundary,
a body cut short by a client that went away. Under the WSGI handler (the test client, and
runserver's own server class for the cut-short body) and the ASGI handler."""

import asyncio
import socket
from pathlib import Path

import pytest
from rest_framework_simplejwt.tokens import RefreshToken

from captions.models import Image
from tests.images import image_bytes

BOUNDARY = "----captionsite-parts-boundary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def part(disposition: bytes, content: bytes) -> bytes:
    return (f"--{BOUNDARY}\r\n".encode() + b"Content-Disposition: form-data; name=\"files\"; " + disposition
            + b"\r\nContent-Type: image/png\r\n\r\n" + content + b"\r\n")


def body(*parts: bytes, closed: bool = True) -> bytes:
    return b"".join(parts) + (f"--{BOUNDARY}--\r\n".encode() if closed else b"")


GOOD = part(b'filename="good.png"', image_bytes("PNG"))
ODD_PARTS = {
    "dot": part(b'filename="."', image_bytes("PNG", color=(1, 1, 1))),
    "dotdot": part(b'filename=".."', image_bytes("PNG", color=(2, 2, 2))),
    "unknown charset": part(b"filename*=x-unknown''caf%E9.png", image_bytes("PNG", color=(3, 3, 3))),
}


def auth(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {RefreshToken.for_user(user).access_token}"}


def media_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


@pytest.mark.django_db
@pytest.mark.parametrize("case", sorted(ODD_PARTS))
def test_an_unreadable_file_part_refuses_the_body_by_name_under_wsgi(client, user, settings, case):
    response = client.generic("POST", "/api/v1/images/", body(GOOD, ODD_PARTS[case]), content_type=CONTENT_TYPE, **auth(user))
    assert response.status_code == 400, response.content
    detail = response.json()["detail"]
    assert "could not be read" in detail and "good.png" in detail
    assert Image.objects.count() == 0 and media_files(settings) == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("case", sorted(ODD_PARTS))
def test_an_unreadable_file_part_refuses_the_body_by_name_under_asgi(async_client, user, settings, case):
    response = asyncio.run(async_client.generic(
        "POST", "/api/v1/images/", body(GOOD, ODD_PARTS[case]), content_type=CONTENT_TYPE,
        headers={"Authorization": auth(user)["HTTP_AUTHORIZATION"]}))
    assert response.status_code == 400, response.content
    assert "could not be read" in response.json()["detail"]
    assert Image.objects.count() == 0 and media_files(settings) == []


@pytest.mark.django_db
def test_a_body_without_its_closing_boundary_stores_nothing_and_says_why(client, user, settings):
    second = part(b'filename="last.png"', image_bytes("PNG", color=(9, 9, 9)))
    response = client.generic("POST", "/api/v1/images/", body(GOOD, second, closed=False), content_type=CONTENT_TYPE,
                              **auth(user))
    assert response.status_code == 400, response.content
    assert "closing boundary" in response.json()["detail"]
    assert Image.objects.count() == 0 and media_files(settings) == []


@pytest.mark.django_db
def test_the_upload_form_refuses_an_unreadable_part_too(client, user, settings):
    client.force_login(user)
    response = client.generic("POST", "/upload/", body(GOOD, ODD_PARTS["dot"]), content_type=CONTENT_TYPE)
    assert response.status_code == 400
    assert Image.objects.count() == 0 and media_files(settings) == []


@pytest.mark.django_db
def test_readable_bodies_are_unchanged(client, user):
    response = client.generic("POST", "/api/v1/images/", body(GOOD), content_type=CONTENT_TYPE, **auth(user))
    assert response.status_code == 202, response.content
    assert Image.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_upload_aborted_mid_body_under_runserver_stores_nothing(live_server, user, settings):
    """runserver's server class (Django's live server): the client sends 3 of 4 files and closes
    the connection; the files received so far are not stored."""
    full = body(*[part(f'filename="f{n}.png"'.encode(), image_bytes("PNG", color=(n, 50, 50))) for n in range(4)])
    sent = full[: len(full) * 3 // 4]
    host, port = live_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(
            b"POST /api/v1/images/ HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
            + f"Content-Type: {CONTENT_TYPE}\r\nContent-Length: {len(full)}\r\n".encode()
            + f"Authorization: {auth(user)['HTTP_AUTHORIZATION']}\r\n\r\n".encode() + sent
        )
        connection.shutdown(socket.SHUT_WR)  # the client is gone
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    assert not answer.startswith(b"HTTP/1.1 202") and not answer.startswith(b"HTTP/1.0 202"), answer[:200]
    assert Image.objects.count() == 0 and media_files(settings) == []
