"""Only models that can run are offered: the upload form, the API, the bulk re-caption form and the
review queue list the configured models plus the registry names whose files are here (a models
folder or the model cache), and a request naming another registry model is refused before any file
is stored, naming it. Two installed (a tiny BLIP as the site's model, the tiny LLaVA as a registry
name found in MLCORE_MODELS_DIR), the rest of the registry not."""

import shutil

import pytest
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from captions.models import Image
from mlcore.availability import spec_installed
from mlcore.config import reload_config
from mlcore.registry import REGISTRY, VLM_REGISTRY
from tests.images import image_bytes, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_installed(settings, monkeypatch, tmp_path, tiny_blip_dir, tiny_vlm_dir):
    models = tmp_path / "models"
    shutil.copytree(tiny_vlm_dir, models / "smolvlm-256m")  # installed under its registry name
    empty_cache = tmp_path / "hf-cache"
    empty_cache.mkdir()
    monkeypatch.setenv("MLCORE_MODELS_DIR", str(models))
    monkeypatch.setenv("MLCORE_HF_CACHE", str(empty_cache))
    reload_config()
    settings.CAPTION_MODEL = tiny_blip_dir
    settings.CAPTION_MODEL_CHOICES = []
    yield tiny_blip_dir
    monkeypatch.undo()
    reload_config()


def test_only_installed_models_are_offered_everywhere(two_installed, logged_in_client, user):
    from captions.selectors import caption_model_choices

    assert caption_model_choices() == [two_installed, "smolvlm-256m"]
    assert spec_installed("smolvlm-256m") == (True, "")
    ok, why = spec_installed("blip-large")
    assert not ok and "blip-large is not installed" in why
    page = logged_in_client.get(reverse("captions:gallery")).content.decode()
    assert '<option value="smolvlm-256m">' in page and 'value="qwen2.5-vl-3b"' not in page
    registry = set(REGISTRY) | set(VLM_REGISTRY)
    assert len(registry) > 10  # the rest of the registry exists, but is not offered


def test_a_model_that_is_not_installed_is_refused_before_anything_is_stored(two_installed, user):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    for url in ("/api/v1/images/", "/api/v1/batches/"):
        response = api.post(url, {"files": [upload("a.png", image_bytes("PNG"), "image/png")],
                                  "model": "qwen2.5-vl-3b"}, format="multipart")
        assert response.status_code == 400, response.content
        message = " ".join(response.json()["errors"]["model"])
        assert "qwen2.5-vl-3b is not installed" in message and "model_fetch qwen2.5-vl-3b" in message
    assert not Image.objects.exists()
    response = api.post("/api/v1/images/", {"files": [upload("a.png", image_bytes("PNG"), "image/png")],
                                            "model": "smolvlm-256m"}, format="multipart")
    assert response.status_code == 202, response.json()


def test_an_engine_that_does_not_answer_is_not_installed():
    ok, why = spec_installed("openai:http://127.0.0.1:9/v1#some-model")
    assert not ok and "did not answer its health check" in why
