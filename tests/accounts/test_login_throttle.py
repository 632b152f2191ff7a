"""Failed sign-ins are throttled per account and per address on every password form (the
sign-in page, the admin's, the JWT endpoint), with one shared counter and a clear message."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User

pytestmark = pytest.mark.django_db

PASSWORD = "a long and unusual passphrase 42"
LOCKED = "Too many failed attempts; try again in 15 minutes."


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 5
    settings.LOGIN_FAILURES_PER_ADDRESS = 20
    settings.LOGIN_LOCKOUT_MINUTES = 15


@pytest.fixture
def ada(db) -> User:
    return User.objects.create_user(email="ada@example.com", password=PASSWORD)


def sign_in(client, email, password, address="198.51.100.1"):
    return client.post(reverse("accounts:login"), {"username": email, "password": password}, REMOTE_ADDR=address)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_forty_wrong_passwords_lock_the_account_even_for_the_right_one(client, ada):
    statuses = []
    for attempt in range(40):
        response = sign_in(client, "ada@example.com", f"wrong {attempt}")
        statuses.append(response.status_code)
        if attempt < 5:
            assert response.status_code == 200 and "correct email" in response.content.decode()
        else:
            assert response.status_code == 429, attempt
            assert LOCKED in response.content.decode()
            assert int(response["Retry-After"]) > 14 * 60
    assert statuses.count(200) == 5
    response = sign_in(client, "ADA@example.com", PASSWORD)
    assert response.status_code == 429 and LOCKED in response.content.decode()
    assert not signed_in(client)
    # Another account from another address is not affected.
    User.objects.create_user(email="bob@example.com", password=PASSWORD)
    assert sign_in(client, "bob@example.com", PASSWORD, address="198.51.100.2").status_code == 302
    assert signed_in(client)


def test_one_address_trying_many_accounts_is_locked_out(client, ada):
    for n in range(20):
        assert sign_in(client, f"guess{n}@example.com", "nope").status_code == 200
    response = sign_in(client, "ada@example.com", PASSWORD)
    assert response.status_code == 429 and LOCKED in response.content.decode()
    # The same account from another address signs in: the lock was on the address.
    assert sign_in(client, "ada@example.com", PASSWORD, address="203.0.113.5").status_code == 302


def test_a_successful_sign_in_clears_the_accounts_count(client, ada):
    for _ in range(4):
        sign_in(client, "ada@example.com", "wrong")
    assert sign_in(client, "ada@example.com", PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        assert sign_in(client, "ada@example.com", "wrong").status_code == 200
    assert sign_in(client, "ada@example.com", PASSWORD).status_code == 302


def test_the_admin_sign_in_is_throttled_too(client):
    User.objects.create_superuser(email="root@example.com", password=PASSWORD)
    url = reverse("admin:login")
    for attempt in range(8):
        response = client.post(url, {"username": "root@example.com", "password": f"wrong {attempt}"},
                               REMOTE_ADDR="198.51.100.9")
        assert response.status_code == 200
        assert (LOCKED in response.content.decode()) == (attempt >= 5), attempt
    response = client.post(url, {"username": "root@example.com", "password": PASSWORD}, REMOTE_ADDR="198.51.100.9")
    assert LOCKED in response.content.decode()
    assert not signed_in(client)


def test_the_token_endpoint_shares_the_count_with_the_sign_in_page(client, ada):
    api = APIClient()
    token_url = reverse("api:token-obtain")
    for attempt in range(3):
        assert sign_in(client, "ada@example.com", f"wrong {attempt}").status_code == 200
    for _ in range(2):
        response = api.post(token_url, {"email": "ada@example.com", "password": "wrong"}, format="json",
                            REMOTE_ADDR="198.51.100.3")
        assert response.status_code == 401, response.json()
    response = api.post(token_url, {"email": "ada@example.com", "password": PASSWORD}, format="json",
                        REMOTE_ADDR="198.51.100.3")
    assert response.status_code == 429
    assert response.json()["detail"] == LOCKED and response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) > 14 * 60
