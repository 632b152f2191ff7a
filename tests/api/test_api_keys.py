"""API keys: made through the API or the web page, shown once, stored hashed, revocable."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services
from accounts.models import ApiKey
from tests.api.conftest import assert_error_format

pytestmark = pytest.mark.django_db


def with_key(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def test_a_key_made_through_the_api_is_shown_once_and_stored_hashed(api, user):
    response = api.post(reverse("api:api-keys"), {"name": "nightly import"}, format="json")
    assert response.status_code == 201
    body = response.json()
    prefix, secret = body["key"].split(".", 1)
    assert body["prefix"] == prefix and body["name"] == "nightly import" and body["state"] == "active"

    stored = ApiKey.objects.get(prefix=prefix)
    assert stored.owner == user
    assert secret not in stored.hashed_secret and stored.hashed_secret.startswith("api_key_sha512$")

    listed = api.get(reverse("api:api-keys")).json()
    assert listed["count"] == 1
    assert "key" not in listed["results"][0] and secret not in str(listed)

    # The key acts as its owner.
    assert with_key(body["key"]).get(reverse("api:images")).status_code == 200


def test_use_is_recorded_to_the_minute(user, api_key):
    client = with_key(api_key)
    assert ApiKey.objects.get().last_used_at is None
    client.get(reverse("api:images"))
    first = ApiKey.objects.get().last_used_at
    assert first is not None and timezone.now() - first < timedelta(seconds=5)
    client.get(reverse("api:images"))
    assert ApiKey.objects.get().last_used_at == first  # no write per call


@pytest.mark.parametrize(
    "mangle, reason",
    [
        (lambda key: key.split(".")[0] + ".wrong-secret", "Unknown API key"),
        (lambda key: "deadbeef." + key.split(".")[1], "Unknown API key"),
        (lambda key: key.replace(".", ""), "Malformed API key"),
        (lambda key: "", "Malformed API key"),
    ],
    ids=["wrong-secret", "unknown-prefix", "no-dot", "empty"],
)
def test_unknown_or_malformed_keys_are_a_401_with_the_reason(api_key, mangle, reason):
    response = with_key(mangle(api_key)).get(reverse("api:images"))
    body = assert_error_format(response, 401)
    assert reason in body["detail"]
    assert body["code"] == "api_key_invalid"


def test_a_revoked_key_is_a_401(api, api_key):
    prefix = api_key.split(".")[0]
    assert api.delete(reverse("api:api-key", args=[prefix])).status_code == 204
    body = assert_error_format(with_key(api_key).get(reverse("api:images")), 401)
    assert "revoked" in body["detail"]
    assert api.get(reverse("api:api-keys")).json()["results"][0]["state"] == "revoked"
    # Revoking again changes nothing.
    assert api.delete(reverse("api:api-key", args=[prefix])).status_code == 204


def test_an_expired_key_is_a_401(user):
    api_key, full = services.api_key_create(owner=user, name="short", expires_at=timezone.now() + timedelta(hours=1))
    ApiKey.objects.filter(pk=api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    body = assert_error_format(with_key(full).get(reverse("api:images")), 401)
    assert "expired" in body["detail"]


def test_a_disabled_account_cannot_use_its_keys(user, api_key):
    user.is_active = False
    user.save()
    assert "disabled" in assert_error_format(with_key(api_key).get(reverse("api:images")), 401)["detail"]


def test_an_expiry_in_the_past_or_a_missing_name_is_a_400(api):
    past = (timezone.now() - timedelta(days=1)).isoformat()
    assert_error_format(api.post(reverse("api:api-keys"), {"name": "x", "expires_at": past}, format="json"), 400, field="expires_at")
    assert_error_format(api.post(reverse("api:api-keys"), {"name": "  "}, format="json"), 400, field="name")
    assert_error_format(api.post(reverse("api:api-keys"), {"name": "x" * 101}, format="json"), 400, field="name")
    assert not ApiKey.objects.exists()


def test_another_users_key_cannot_be_revoked_or_seen(api, other_user):
    other_key, _ = services.api_key_create(owner=other_user, name="bob's")
    assert_error_format(api.delete(reverse("api:api-key", args=[other_key.prefix])), 404)
    assert api.get(reverse("api:api-keys")).json()["count"] == 0
    assert ApiKey.objects.get(pk=other_key.pk).revoked_at is None


def test_key_endpoints_need_authentication(anon):
    assert_error_format(anon.get(reverse("api:api-keys")), 401)
    assert_error_format(anon.post(reverse("api:api-keys"), {"name": "x"}, format="json"), 401)
    assert_error_format(anon.delete(reverse("api:api-key", args=["abcd1234"])), 401)


# --- The web page ------------------------------------------------------------------------------------


def test_the_page_is_in_the_account_menu(logged_in_client):
    page = logged_in_client.get(reverse("captions:gallery")).content.decode()
    assert reverse("accounts:api_keys") in page


def test_the_web_page_makes_a_key_shows_it_once_and_revokes_it(logged_in_client, user):
    response = logged_in_client.post(reverse("accounts:api_keys"), {"name": "laptop script", "expires_in_days": "30"})
    assert response.status_code == 302  # post/redirect/get: a reload does not make a second key
    assert response["Location"] == reverse("accounts:api_keys")
    shown = logged_in_client.get(response["Location"])
    full_key = shown.context["new_key"]
    assert full_key and full_key in shown.content.decode()
    assert shown["Cache-Control"] == "no-store"
    api_key = ApiKey.objects.get(owner=user)
    assert api_key.expires_at > timezone.now() + timedelta(days=29)
    assert with_key(full_key).get(reverse("api:images")).status_code == 200

    listing = logged_in_client.get(reverse("accounts:api_keys")).content.decode()  # the reload: shown once only
    assert "laptop script" in listing and api_key.prefix in listing and full_key not in listing
    assert ApiKey.objects.filter(owner=user).count() == 1

    response = logged_in_client.post(reverse("accounts:api_key_revoke", args=[api_key.prefix]), follow=True)
    assert "was revoked" in response.content.decode()
    assert_error_format(with_key(full_key).get(reverse("api:images")), 401)


def test_the_web_page_refuses_a_key_without_a_name(logged_in_client):
    response = logged_in_client.post(reverse("accounts:api_keys"), {"name": ""})
    assert response.status_code == 400
    assert "name" in response.context["form"].errors
    assert not ApiKey.objects.exists()


def test_the_web_page_needs_a_login_and_hides_other_users_keys(logged_in_client, other_user):
    from django.test import Client

    assert Client().get(reverse("accounts:api_keys")).status_code == 302
    other_key, _ = services.api_key_create(owner=other_user, name="bob's")
    assert "bob&#x27;s" not in logged_in_client.get(reverse("accounts:api_keys")).content.decode()
    assert logged_in_client.post(reverse("accounts:api_key_revoke", args=[other_key.prefix])).status_code == 404


def test_staff_see_keys_in_the_admin_and_can_revoke_them(client, make_user, user, api_key):
    admin_user = make_user("root@example.com", is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    changelist = client.get("/admin/accounts/apikey/")
    assert changelist.status_code == 200 and api_key.split(".")[0] in changelist.content.decode()
    stored = ApiKey.objects.get()
    assert client.get(f"/admin/accounts/apikey/{stored.pk}/change/").status_code == 200
    response = client.post("/admin/accounts/apikey/", {"action": "revoke", "_selected_action": [stored.pk]})
    assert response.status_code == 302
    assert_error_format(with_key(api_key).get(reverse("api:images")), 401)
