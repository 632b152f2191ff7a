import pytest
from django.urls import reverse

from accounts.models import User

pytestmark = pytest.mark.django_db

STRONG = "correct-horse-battery-staple-42"


def people():
    """The accounts people made (the demo's system account exists from migrate on)."""
    from django.conf import settings

    return User.objects.exclude(email=settings.DEMO_USER_EMAIL)


def test_signup_creates_user_with_bcrypt_hash_and_logs_in(client):
    response = client.post(
        reverse("accounts:signup"),
        {"email": "Ada@Example.com", "password1": STRONG, "password2": STRONG},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("captions:gallery")
    user = people().get()
    assert user.email == "ada@example.com"
    assert user.password.startswith("bcrypt_sha256$")
    assert user.check_password(STRONG)
    assert client.get(reverse("captions:gallery")).status_code == 200


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"email": "not-an-email", "password1": STRONG, "password2": STRONG}, "email", "valid email"),
        ({"email": "b@example.com", "password1": STRONG, "password2": STRONG + "x"}, "password2", "do not match"),
        ({"email": "b@example.com", "password1": "123", "password2": "123"}, "password1", "too short"),
    ],
)
def test_signup_refuses_bad_input_with_form_errors(client, data, field, message):
    response = client.post(reverse("accounts:signup"), data)
    assert response.status_code == 400
    errors = response.context["form"].errors[field]
    assert any(message in error for error in errors)
    assert not people().exists()


def test_signup_answers_a_taken_address_exactly_like_a_new_one(client, make_user):
    """No "already exists": the same redirect, the same page; the account is not touched."""
    taken = make_user("ada@example.com")
    before = taken.password
    new = client.post(reverse("accounts:signup"), {"email": "new@example.com", "password1": STRONG, "password2": STRONG})
    client.logout()
    again = client.post(reverse("accounts:signup"), {"email": "ADA@example.com", "password1": STRONG, "password2": STRONG})
    assert (again.status_code, again["Location"]) == (new.status_code, new["Location"]) == (302, reverse("captions:gallery"))
    assert again.content == new.content
    assert b"exist" not in again.content
    assert people().count() == 2
    taken.refresh_from_db()
    assert taken.password == before  # nobody took the account over
    assert "_auth_user_id" not in client.session  # not signed in as ada without her password
    landing = client.get(again["Location"]).content.decode()  # the visitor is told what to do next
    assert "You are not signed in. If this address already has an account, sign in" in landing
    assert reverse("accounts:login") in landing


def test_signup_again_with_the_right_password_signs_the_owner_in(client):
    User.objects.create_user(email="ada@example.com", password=STRONG)
    response = client.post(reverse("accounts:signup"), {"email": "ada@example.com", "password1": STRONG, "password2": STRONG})
    assert response.status_code == 302 and client.get(reverse("captions:gallery")).status_code == 200
    assert people().count() == 1


def test_signup_with_a_taken_address_is_no_way_around_the_login_throttle(client, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    User.objects.create_user(email="ada@example.com", password=STRONG)
    for n in range(3):
        guess = f"another-guess-passphrase-{n}"
        client.post(reverse("accounts:signup"), {"email": "ada@example.com", "password1": guess, "password2": guess})
    client.post(reverse("accounts:signup"), {"email": "ada@example.com", "password1": STRONG, "password2": STRONG})
    assert "_auth_user_id" not in client.session


def test_login_and_logout(client):
    User.objects.create_user(email="ada@example.com", password=STRONG)
    bad = client.post(reverse("accounts:login"), {"username": "ada@example.com", "password": "wrong"})
    assert bad.status_code == 200 and "_auth_user_id" not in client.session

    good = client.post(reverse("accounts:login"), {"username": "ADA@example.com", "password": STRONG})
    assert good.status_code == 302
    assert client.get(reverse("captions:gallery")).status_code == 200

    assert client.post(reverse("accounts:logout")).status_code == 302
    response = client.get(reverse("accounts:api_keys"))
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


def test_get_logout_shows_a_page_with_a_post_button_and_does_not_log_out(client):
    User.objects.create_user(email="ada@example.com", password=STRONG)
    client.post(reverse("accounts:login"), {"username": "ada@example.com", "password": STRONG})
    page = client.get(reverse("accounts:logout"))
    html = page.content.decode()
    assert page.status_code == 200
    assert f'<form method="post" action="{reverse("accounts:logout")}">' in html and "csrfmiddlewaretoken" in html
    assert 'id="logout-button">Log out</button>' in html and f'href="{reverse("captions:gallery")}"' in html
    assert "_auth_user_id" in client.session  # a GET never logs out
    assert client.post(reverse("accounts:logout")).status_code == 302
    assert "_auth_user_id" not in client.session
    signed_out = client.get(reverse("accounts:logout")).content.decode()
    assert "You are not signed in." in signed_out and reverse("accounts:login") in signed_out


def test_gallery_requires_login_and_visitors_get_the_landing_page(client):
    landing = client.get(reverse("captions:gallery"))
    assert landing.status_code == 200
    html = landing.content.decode()
    assert "Try it with one image" in html and reverse("api:demo-caption") in html and reverse("accounts:signup") in html
    assert "Upload images" not in html
    assert client.post(reverse("captions:gallery"), {}).status_code == 405  # the upload has its own address
    response = client.post(reverse("captions:upload"), {})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
