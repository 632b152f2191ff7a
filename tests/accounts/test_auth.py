import pytest
from django.urls import reverse

from accounts.models import User

pytestmark = pytest.mark.django_db

STRONG = "correct-horse-battery-staple-42"


def test_signup_creates_user_with_bcrypt_hash_and_logs_in(client):
    response = client.post(
        reverse("accounts:signup"),
        {"email": "Ada@Example.com", "password1": STRONG, "password2": STRONG},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("captions:gallery")
    user = User.objects.get()
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
    assert not User.objects.exists()


def test_signup_refuses_an_email_already_taken(client, make_user):
    make_user("ada@example.com")
    response = client.post(
        reverse("accounts:signup"), {"email": "ADA@example.com", "password1": STRONG, "password2": STRONG}
    )
    assert response.status_code == 400
    assert "already exists" in response.context["form"].errors["email"][0]
    assert User.objects.count() == 1


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


def test_gallery_requires_login_and_visitors_get_the_landing_page(client):
    landing = client.get(reverse("captions:gallery"))
    assert landing.status_code == 200
    html = landing.content.decode()
    assert "Try it with one image" in html and reverse("api:demo-caption") in html and reverse("accounts:signup") in html
    assert "Upload images" not in html
    response = client.post(reverse("captions:gallery"), {})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
