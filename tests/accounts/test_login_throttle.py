"""Failed sign-ins lock one (account, client address) pair on every password form (the sign-in
page, the admin's, the JWT endpoint), with one shared count and a clear message; nobody can lock
an account out from elsewhere, the lockout grows with repeated lockouts, and a password reset
lets the owner back in."""

import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User

pytestmark = pytest.mark.django_db

PASSWORD = "a long and unusual passphrase 42"
LOCKED = "Too many failed attempts from this address; try again in 15 minutes, or reset your password."


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


def test_forty_wrong_passwords_lock_the_pair_even_for_the_right_one(client, ada):
    statuses = []
    for attempt in range(40):
        response = sign_in(client, "ada@example.com", f"wrong {attempt}")
        statuses.append(response.status_code)
        if attempt < 4:
            assert response.status_code == 200 and "correct email" in response.content.decode()
        else:  # the fifth failure starts the lockout
            assert response.status_code == 429, attempt
            assert LOCKED in response.content.decode()
            assert int(response["Retry-After"]) > 14 * 60
    assert statuses.count(200) == 4
    response = sign_in(client, "ADA@example.com", PASSWORD)
    assert response.status_code == 429 and LOCKED in response.content.decode()
    assert not signed_in(client)
    # Another account from another address is not affected.
    User.objects.create_user(email="bob@example.com", password=PASSWORD)
    assert sign_in(client, "bob@example.com", PASSWORD, address="198.51.100.2").status_code == 302
    assert signed_in(client)


def test_lockout_is_per_account_and_address_so_the_owner_still_signs_in(client, ada):
    """The lockout-anyone class: an attacker's failures never lock the owner's own address out."""
    for attempt in range(12):
        sign_in(client, "ada@example.com", f"wrong {attempt}", address="203.0.113.66")
    assert sign_in(client, "ada@example.com", PASSWORD, address="203.0.113.66").status_code == 429
    assert sign_in(client, "ada@example.com", PASSWORD, address="198.51.100.20").status_code == 302
    assert signed_in(client)


def test_an_admin_is_not_locked_out_by_anybody_elses_failures(client):
    User.objects.create_superuser(email="root@example.com", password=PASSWORD)
    url = reverse("admin:login")
    for attempt in range(10):
        client.post(url, {"username": "root@example.com", "password": f"x{attempt}"}, REMOTE_ADDR="203.0.113.9")
    response = client.post(url, {"username": "root@example.com", "password": PASSWORD}, REMOTE_ADDR="10.0.0.2")
    assert response.status_code == 302 and signed_in(client)


def test_the_lockout_grows_with_each_lockout_of_the_pair(client, ada):
    for attempt in range(5):
        sign_in(client, "ada@example.com", f"wrong {attempt}")
    first = sign_in(client, "ada@example.com", PASSWORD)
    assert first.status_code == 429 and 14 * 60 < int(first["Retry-After"]) <= 15 * 60
    # The first lockout ends (its attempts are older than the cool-off) and five more failures follow.
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    for attempt in range(4):
        assert sign_in(client, "ada@example.com", f"again {attempt}").status_code == 200
    second = sign_in(client, "ada@example.com", "again 5")
    assert second.status_code == 429
    assert 29 * 60 < int(second["Retry-After"]) <= 30 * 60
    assert "30 minutes" in second.content.decode()


def test_a_password_reset_unlocks_the_account(client, ada):
    for attempt in range(5):
        sign_in(client, "ada@example.com", f"wrong {attempt}")
    assert sign_in(client, "ada@example.com", PASSWORD).status_code == 429
    client.post(reverse("accounts:password_reset"), {"email": "ada@example.com"}, REMOTE_ADDR="198.51.100.1")
    link = re.search(r"http://testserver(/accounts/password/reset/\S+/)", mail.outbox[-1].body).group(1)
    form_url = client.get(link, follow=True).redirect_chain[-1][0]
    new_password = "another long passphrase 77"
    response = client.post(form_url, {"new_password1": new_password, "new_password2": new_password})
    assert response.status_code == 302
    assert sign_in(client, "ada@example.com", new_password).status_code == 302


def test_one_address_trying_many_accounts_is_locked_out(client, ada):
    for n in range(20):
        assert sign_in(client, f"guess{n}@example.com", "nope").status_code == 200
    response = sign_in(client, "ada@example.com", PASSWORD)
    assert response.status_code == 429 and "Too many failed attempts" in response.content.decode()
    # The same account from another address signs in: the lock was on the address.
    assert sign_in(client, "ada@example.com", PASSWORD, address="203.0.113.5").status_code == 302


def test_a_successful_sign_in_clears_the_pairs_count(client, ada):
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
        assert (LOCKED in response.content.decode()) == (attempt >= 4), attempt
    response = client.post(url, {"username": "root@example.com", "password": PASSWORD}, REMOTE_ADDR="198.51.100.9")
    assert LOCKED in response.content.decode()
    assert not signed_in(client)


def test_the_token_endpoint_shares_the_count_with_the_sign_in_page(client, ada):
    api = APIClient()
    token_url = reverse("api:token-obtain")
    for attempt in range(3):
        assert sign_in(client, "ada@example.com", f"wrong {attempt}", address="198.51.100.3").status_code == 200
    response = api.post(token_url, {"email": "ada@example.com", "password": "wrong"}, format="json",
                        REMOTE_ADDR="198.51.100.3")
    assert response.status_code == 401, response.json()
    response = api.post(token_url, {"email": "ada@example.com", "password": "wrong"}, format="json",
                        REMOTE_ADDR="198.51.100.3")
    assert response.status_code == 429
    response = api.post(token_url, {"email": "ada@example.com", "password": PASSWORD}, format="json",
                        REMOTE_ADDR="198.51.100.3")
    assert response.status_code == 429
    assert response.json()["detail"] == LOCKED and response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) > 14 * 60
    # The owner's other address gets a token.
    assert api.post(token_url, {"email": "ada@example.com", "password": PASSWORD}, format="json",
                    REMOTE_ADDR="198.51.100.4").status_code == 200


@pytest.mark.parametrize("header", ["not-an-address", "203.0.113.7, 10.0.0.1", ""])
def test_a_client_address_that_is_no_ip_address_is_no_500(client, ada, settings, header):
    settings.RATELIMIT_IP_META_KEY = "HTTP_X_REAL_IP"
    for attempt in range(6):
        response = client.post(reverse("accounts:login"), {"username": "ada@example.com", "password": f"w{attempt}"},
                               HTTP_X_REAL_IP=header)
        assert response.status_code in (200, 429)
    assert response.status_code == 429
