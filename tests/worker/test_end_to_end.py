"""The whole spine with real processes: sign up, upload through the form, a real django-q2
cluster (`manage.py qcluster` in a subprocess) captions the images, the gallery shows them."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from captions.models import Caption, Image
from tests.images import image_bytes, upload
from tests.processes import database_url_of_this_test

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_sign_up_upload_three_images_and_see_three_captions(client, qcluster):
    password = "a-long-and-unusual-passphrase-7"
    client.post(reverse("accounts:signup"), {"email": "ada@example.com", "password1": password, "password2": password})
    colours = [(220, 20, 20), (20, 220, 20), (20, 20, 220)]
    response = client.post(
        reverse("captions:upload"),
        {"images": [upload(f"photo-{i}.jpg", image_bytes("JPEG", color=c)) for i, c in enumerate(colours)]},
    )
    assert response.status_code == 302

    qcluster(3)
    assert set(Image.objects.values_list("status", flat=True)) == {Image.Status.DONE}
    gallery = client.get(reverse("captions:gallery")).content.decode()
    captions = list(Caption.objects.all())
    assert len(captions) == 3
    for caption in captions:
        assert caption.model_id and caption.model_version
        assert f'<p class="caption">{caption.text}' in gallery or caption.text == ""
    assert gallery.count("badge-done") == 3

    # The same photo again: the stored caption is reused, not recomputed.
    client.post(reverse("captions:upload"), {"images": [upload("again.jpg", image_bytes("JPEG", color=colours[0]))]})
    qcluster(4)
    again = Image.objects.get(original_filename="again.jpg")
    assert again.current_caption.source == Caption.Source.CACHE
    original = Image.objects.get(original_filename="photo-0.jpg").current_caption
    assert again.current_caption.text == original.text


def test_web_process_never_imports_the_model_stack(tmp_path):
    """Serving pages and accepting uploads must not pull torch or transformers into gunicorn workers."""
    script = f"""
import os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "captionsite.test_settings"
os.environ["DATABASE_URL"] = {database_url_of_this_test()!r}
os.environ["MEDIA_ROOT"] = {str(tmp_path)!r}
from django.core.wsgi import get_wsgi_application
application = get_wsgi_application()
from django.test import Client
from accounts.models import User
from tests.images import image_bytes, upload
user = User.objects.create_user(email="web@example.com", password=None)
client = Client(HTTP_HOST="localhost")
client.force_login(user)
assert client.get("/").status_code == 200
assert client.post("/upload/", {{"images": [upload("a.jpg", image_bytes("JPEG"))]}}).status_code == 302
loaded = sorted(m for m in ("torch", "transformers") if m in sys.modules)
print("LOADED", loaded)
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout, result.stdout
