"""Every `next` parameter redirects only within the site: the rating form, sign-in, sign-out."""

import pytest
from django.urls import reverse

from accounts.models import User
from tests.review.conftest import client_for

pytestmark = pytest.mark.django_db

FOREIGN = [
    "https://evil.example",
    "https://evil.example/captions/",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "JavaScript:alert(document.domain)",
    "data:text/html,<script>alert(1)</script>",
    " https://evil.example",
    "\x08//evil.example",
    "http://testserver.evil.example/",
    "https:evil.example",
]


@pytest.mark.parametrize("target", FOREIGN)
def test_the_rating_form_never_redirects_off_site(client, owner, captioned, target):
    caption = captioned(owner, confidence=0.4)
    client_for(client, owner)
    response = client.post(reverse("feedback:feedback", args=[caption.pk]), {"rating": "4", "next": target})
    assert response.status_code == 302
    assert response["Location"] == reverse("captions:image_detail", args=[caption.image.public_id])


@pytest.mark.parametrize("target", ["/", "/review/?position=2&batch=3", "http://testserver/dashboard/"])
def test_the_rating_form_follows_a_local_next(client, owner, captioned, target):
    caption = captioned(owner, confidence=0.4)
    client_for(client, owner)
    response = client.post(reverse("feedback:feedback", args=[caption.pk]), {"rating": "4", "next": target})
    assert response.status_code == 302 and response["Location"] == target


@pytest.mark.parametrize("target", FOREIGN)
def test_sign_in_and_sign_out_never_redirect_off_site(client, target):
    password = "a long and unusual passphrase 42"
    User.objects.create_user(email="ada@example.com", password=password)
    response = client.post(reverse("accounts:login"), {"username": "ada@example.com", "password": password,
                                                       "next": target})
    assert response.status_code == 302 and response["Location"] == reverse("captions:gallery")
    response = client.post(reverse("accounts:logout"), {"next": target})
    assert response.status_code == 302 and response["Location"] == reverse("accounts:login")
