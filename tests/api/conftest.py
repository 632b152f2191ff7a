import threading
from contextlib import contextmanager

import pytest
from django.db import connection
from django_q.tasks import async_task
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import services as account_services


def bearer(user) -> str:
    return f"Bearer {RefreshToken.for_user(user).access_token}"


@pytest.fixture
def anon() -> APIClient:
    return APIClient()


@pytest.fixture
def other_user(make_user):
    return make_user("bob@example.com")


@pytest.fixture
def other_api(other_user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bearer(other_user))
    return client


@pytest.fixture
def api_key(user) -> str:
    _, full_key = account_services.api_key_create(owner=user, name="tests")
    return full_key


@pytest.fixture
def key_api(api_key) -> APIClient:
    """A client that sends an API key of the user."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key}")
    return client


@pytest.fixture(params=["jwt", "api_key"])
def authed(request) -> APIClient:
    """The same test once with a JWT and once with an API key."""
    return request.getfixturevalue("api" if request.param == "jwt" else "key_api")


def run_worker_once():
    """The captioning task, run through django-q2's own worker code in this process."""
    return async_task("captions.tasks.caption_pending", sync=True)


@contextmanager
def worker_in_background(poll_seconds: float = 0.05):
    """A real worker loop in a thread, captioning what requests enqueue while they wait.

    Needs a test with committed data (django_db(transaction=True)): the thread has its own
    database connection.
    """
    stop = threading.Event()
    errors: list[BaseException] = []

    def loop():
        try:
            while not stop.is_set():
                run_worker_once()
                stop.wait(poll_seconds)
        except BaseException as error:  # reported by the test, not lost in the thread
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=loop, name="test-worker", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive(), "the worker thread did not stop"
    assert not errors, errors


def assert_error_format(response, status: int, *, field: str | None = None) -> dict:
    """The one error format of the API: detail, code, errors (naming `field` when given)."""
    assert response.status_code == status, (response.status_code, getattr(response, "content", b"")[:500])
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["code"], str) and body["code"]
    assert isinstance(body["errors"], dict)
    if field is not None:
        assert field in body["errors"], body
        assert all(isinstance(m, str) for m in body["errors"][field])
    return body
