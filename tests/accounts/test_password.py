"""Password change, password reset by e-mail and the logged-out notice."""

import re

import pytest
from django.urls import reverse

from accounts.models import User

pytestmark = pytest.mark.django_db

OLD = "correct-horse-battery-staple-42"
NEW = "another-long-passphrase-for-ada-7"


@pytest.fixture
def ada(django_user_model):
    return User.objects.create_user(email="ada@example.com", password=OLD)


def notices(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_logging_out_says_so(client, ada):
    client.force_login(ada)
    response = client.post(reverse("accounts:logout"), follow=True)
    assert "You are logged out." in notices(response)
    assert client.get(reverse("accounts:api_keys")).status_code == 302


def test_password_change_needs_the_current_one(client, ada):
    client.force_login(ada)
    assert reverse("accounts:password_change") in client.get(reverse("captions:gallery")).content.decode()
    wrong = client.post(reverse("accounts:password_change"), {"old_password": "nope", "new_password1": NEW, "new_password2": NEW})
    assert wrong.status_code == 200 and "old_password" in wrong.context["form"].errors
    response = client.post(
        reverse("accounts:password_change"), {"old_password": OLD, "new_password1": NEW, "new_password2": NEW}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("captions:gallery")
    assert "Your password was changed." in notices(response)
    ada.refresh_from_db()
    assert ada.check_password(NEW)
    assert client.get(reverse("captions:gallery")).status_code == 200  # still signed in


def test_password_change_needs_a_login(client):
    response = client.get(reverse("accounts:password_change"))
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


def test_password_reset_by_email_works_once(client, ada, mailoutbox):
    assert reverse("accounts:password_reset") in client.get(reverse("accounts:login")).content.decode()
    response = client.post(reverse("accounts:password_reset"), {"email": "ADA@example.com"})
    assert response.status_code == 302 and response["Location"] == reverse("accounts:password_reset_done")
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["ada@example.com"]
    link = re.search(r"https?://[^/]+(/accounts/password/reset/\S+/)", mailoutbox[0].body).group(1)

    form_page = client.get(link, follow=True)
    assert form_page.context["validlink"]
    set_url = form_page.redirect_chain[-1][0]
    response = client.post(set_url, {"new_password1": NEW, "new_password2": NEW}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("accounts:login")
    assert "Your password was set: log in with it." in notices(response)
    ada.refresh_from_db()
    assert ada.check_password(NEW)

    again = client.get(link, follow=True)
    assert not again.context["validlink"] and "This link does not work" in again.content.decode()


def test_password_reset_does_not_reveal_who_has_an_account(client, mailoutbox):
    response = client.post(reverse("accounts:password_reset"), {"email": "nobody@example.com"})
    assert response.status_code == 302 and response["Location"] == reverse("accounts:password_reset_done")
    assert mailoutbox == []
    bad = client.post(reverse("accounts:password_reset"), {"email": "not an address"})
    assert bad.status_code == 200 and "email" in bad.context["form"].errors
