"""Account deletion: confirmed by the password, it removes the user's images,
their files and thumbnails, captions, batches, feedback and API keys, logs out and says so."""

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from accounts.models import ApiKey, User
from accounts.services import api_key_create
from captions.models import Batch, Caption, Image
from captions.services.submission import batch_submit, image_submit
from feedback.models import Feedback
from tests.images import image_bytes, upload


@pytest.fixture
def owner(make_user, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = make_user("del@example.com")
    user.set_password("correct horse 42")
    user.save()
    return user


@pytest.mark.django_db
def test_deleting_the_account_removes_everything_of_it(client, owner, make_user, django_capture_on_commit_callbacks):
    files = [upload(f"p{i}.jpg", image_bytes("JPEG", size=(40, 30))) for i in range(3)]
    result = batch_submit(owner=owner, files=files, name="mine")
    image = result.accepted[0]
    caption = Caption.objects.create(image=image, text="a lamp", raw_text="a lamp", model_id="m")
    Feedback.objects.create(user=owner, caption=caption, rating=3)
    api_key_create(owner=owner, name="script")
    other = make_user("keep@example.com")
    kept = image_submit(owner=other, files=[upload("k.jpg", image_bytes("JPEG"))]).accepted[0]
    paths = [p for i in Image.objects.filter(owner=owner) for p in (i.file.name, i.thumbnail.name) if p]
    assert len(paths) >= 3 and all(default_storage.exists(p) for p in paths)

    client.force_login(owner)
    page = client.get(reverse("accounts:delete"))
    assert page.status_code == 200 and "your 3 images" in page.content.decode()
    wrong = client.post(reverse("accounts:delete"), {"password": "nope"})
    assert wrong.status_code == 400 and "That is not your password." in wrong.content.decode()
    assert User.objects.filter(pk=owner.pk).exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("accounts:delete"), {"password": "correct horse 42"}, follow=True)
    assert response.redirect_chain[-1][0] == "/"
    assert "Your account, your images and their captions were deleted." in response.content.decode()
    assert not response.context["user"].is_authenticated
    assert not User.objects.filter(pk=owner.pk).exists()
    assert not Image.objects.filter(owner_id=owner.pk).exists() and not Batch.objects.filter(owner_id=owner.pk).exists()
    assert not Caption.objects.filter(pk=caption.pk).exists() and not Feedback.objects.exists()
    assert not ApiKey.objects.filter(owner_id=owner.pk).exists()
    assert not any(default_storage.exists(p) for p in paths)
    assert Image.objects.filter(pk=kept.pk).exists() and default_storage.exists(kept.file.name)


@pytest.mark.django_db
def test_an_account_without_a_password_cannot_be_deleted_by_guessing(client, make_user):
    user = make_user("nopass@example.com")  # unusable password
    client.force_login(user)
    assert client.post(reverse("accounts:delete"), {"password": ""}).status_code == 400
    assert client.post(reverse("accounts:delete"), {"password": "!"}).status_code == 400
    assert User.objects.filter(pk=user.pk).exists()


@pytest.mark.django_db
def test_deletion_needs_a_signed_in_user(client):
    response = client.post(reverse("accounts:delete"), {"password": "x"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.django_db
def test_logging_out_says_so(client, owner):
    client.force_login(owner)
    response = client.post(reverse("accounts:logout"), follow=True)
    assert "You are logged out." in response.content.decode()
