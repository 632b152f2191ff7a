"""JWTs: obtain, refresh with rotation and blacklisting, verify, log out; per-IP rate limit."""

import pytest
from django.urls import reverse
from django_q.models import Schedule
from django_q.tasks import async_task
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts.models import User
from tests.api.conftest import assert_error_format

pytestmark = pytest.mark.django_db

PASSWORD = "a long and unusual passphrase 42"


@pytest.fixture
def member(db) -> User:
    return User.objects.create_user(email="ada@example.com", password=PASSWORD)


def obtain(client, email="ada@example.com", password=PASSWORD):
    return client.post(reverse("api:token-obtain"), {"email": email, "password": password}, format="json")


def me(client, access: str):
    return client.get(reverse("api:images"), HTTP_AUTHORIZATION=f"Bearer {access}")


def test_email_and_password_give_tokens_that_open_the_api(anon, member):
    response = obtain(anon, email="  Ada@Example.COM ")
    assert response.status_code == 200
    tokens = response.json()
    assert set(tokens) == {"access", "refresh"}
    assert me(anon, tokens["access"]).status_code == 200


@pytest.mark.parametrize(
    "email, password", [("ada@example.com", "wrong password"), ("nobody@example.com", PASSWORD)], ids=["bad-password", "no-user"]
)
def test_wrong_credentials_are_a_401(anon, member, email, password):
    assert_error_format(obtain(anon, email=email, password=password), 401)


def test_missing_fields_are_a_400_naming_them(anon, member):
    body = assert_error_format(anon.post(reverse("api:token-obtain"), {}, format="json"), 400, field="email")
    assert "password" in body["errors"]


def test_inactive_user_gets_no_token(anon, member):
    member.is_active = False
    member.save()
    assert_error_format(obtain(anon), 401)


def test_refresh_rotates_and_the_old_refresh_token_is_blacklisted(anon, member):
    first = obtain(anon).json()
    response = anon.post(reverse("api:token-refresh"), {"refresh": first["refresh"]}, format="json")
    assert response.status_code == 200
    second = response.json()
    assert second["refresh"] != first["refresh"]
    assert me(anon, second["access"]).status_code == 200
    again = anon.post(reverse("api:token-refresh"), {"refresh": first["refresh"]}, format="json")
    body = assert_error_format(again, 401)
    assert body["code"] == "token_not_valid"


def test_verify_says_which_tokens_are_valid(anon, member):
    tokens = obtain(anon).json()
    assert anon.post(reverse("api:token-verify"), {"token": tokens["access"]}, format="json").status_code == 200
    assert_error_format(anon.post(reverse("api:token-verify"), {"token": "not.a.token"}, format="json"), 401)


def test_logout_blacklists_the_refresh_token(anon, member):
    tokens = obtain(anon).json()
    response = anon.post(reverse("api:logout"), {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 204
    refused = anon.post(reverse("api:token-refresh"), {"refresh": tokens["refresh"]}, format="json")
    assert_error_format(refused, 401)
    assert_error_format(anon.post(reverse("api:logout"), {"refresh": "garbage"}, format="json"), 401)


@pytest.mark.parametrize(
    "header",
    ["Bearer not-a-jwt", "Bearer", "Bearer a b", "Basic YWRhOnB3"],
    ids=["garbage-token", "no-token", "two-parts", "other-scheme"],
)
def test_bad_authorization_headers_are_a_401(anon, member, header):
    body = assert_error_format(anon.get(reverse("api:images"), HTTP_AUTHORIZATION=header), 401)
    assert body["detail"]


def test_no_credentials_is_a_401_naming_the_bearer_scheme(anon):
    response = anon.get(reverse("api:images"))
    body = assert_error_format(response, 401)
    assert body["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_expired_access_token_is_a_401(anon, member, settings):
    from datetime import timedelta

    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken.for_user(member)
    token.set_exp(lifetime=-timedelta(seconds=1))
    body = assert_error_format(me(anon, str(token)), 401)
    assert body["code"] == "token_not_valid"


def test_token_endpoint_is_rate_limited_per_address(member, settings):
    settings.API_RATE_TOKEN = "3/h"  # hour windows: a roll-over mid-test is rare
    client = APIClient(REMOTE_ADDR="203.0.113.7")
    for _ in range(3):
        assert obtain(client, password="wrong").status_code == 401
    response = obtain(client)  # even the right password waits
    body = assert_error_format(response, 429)
    assert body["code"] == "throttled"
    assert 1 <= int(response["Retry-After"]) <= 3600
    # Another address is counted apart.
    assert obtain(APIClient(REMOTE_ADDR="203.0.113.8")).status_code == 200


def test_expired_refresh_tokens_are_flushed_by_a_daily_schedule(anon, member, schedules):
    schedule = Schedule.objects.get(func="accounts.tasks.flush_expired_tokens")
    assert schedule.schedule_type == Schedule.DAILY
    obtain(anon)
    assert OutstandingToken.objects.count() == 1
    OutstandingToken.objects.update(expires_at="2000-01-01T00:00:00Z")
    async_task(schedule.func, sync=True)
    assert OutstandingToken.objects.count() == 0
