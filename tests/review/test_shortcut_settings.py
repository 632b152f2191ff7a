"""The review queue's shortcut setting through HTTP: stored per user, every fault refused with a
message and nothing saved, the keys rendered into the panel (and none when turned off)."""

import pytest
from django.urls import reverse

from feedback.models import ReviewerSettings

pytestmark = pytest.mark.django_db

KEYS = {"approve": "a", "edit": "e", "reject": "r", "next": "j", "previous": "k"}


def save(client, enabled=True, **keys):
    data = {f"key_{action}": key for action, key in {**KEYS, **keys}.items()}
    data.update({"enabled": "on"} if enabled else {})
    return client.post(reverse("feedback:shortcuts"), data, follow=True)


def test_defaults_then_own_keys_then_off(logged_in_client, user, captioned):
    captioned(user, confidence=0.1)
    captioned(user, text="a second caption", confidence=0.2)  # so there is a next item
    page = logged_in_client.get(reverse("feedback:queue")).content.decode()
    assert 'data-shortcuts="on"' in page and 'data-key="a"' in page and "<kbd>a</kbd>" in page

    response = save(logged_in_client, approve="Y", next="n")
    assert "Your shortcuts were saved." in response.content.decode()
    assert ReviewerSettings.objects.values("shortcuts_enabled", "shortcut_keys").get() == {
        "shortcuts_enabled": True, "shortcut_keys": {"approve": "y", "next": "n"}}
    page = logged_in_client.get(reverse("feedback:queue")).content.decode()
    assert 'data-key="y"' in page and 'data-key="n"' in page and 'data-key="a"' not in page

    response = save(logged_in_client, enabled=False, approve="y", next="n")
    page = response.content.decode()
    assert "Single-key shortcuts are off." in page and 'data-shortcuts="off"' in page
    assert "<kbd>y</kbd>" not in page and 'id="shortcuts-off"' in page


@pytest.mark.parametrize("keys, message", [
    ({"approve": "1"}, "1 to 5 pick an alternative"),
    ({"approve": "j"}, "Already the key for approve"),
    ({"edit": " "}, "One letter, digit or sign."),
    ({"reject": ""}, "This field is required."),
    ({"next": "jj"}, "at most 1 character"),
])
def test_bad_keys_are_refused_and_nothing_is_saved(logged_in_client, keys, message):
    response = save(logged_in_client, **keys)
    assert response.status_code == 200
    assert "Shortcuts not saved." in response.content.decode() and message in response.content.decode()
    assert not ReviewerSettings.objects.exists()


def test_anonymous_and_get_are_refused(client, logged_in_client):
    assert client.post(reverse("feedback:shortcuts"), {}).status_code == 302  # to the login page
    assert logged_in_client.get(reverse("feedback:shortcuts")).status_code == 405
