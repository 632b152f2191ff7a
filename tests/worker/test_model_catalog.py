"""The model catalogue through the site: a model added by one catalogue entry is offered, checked
and captioned like any other; the in-house model is offered only where a trained checkpoint exists."""

import shutil

import pytest

from captions.models import Image
from captions.selectors import caption_model_choices, model_abilities
from mlcore.catalog import ModelEntry, add_model, remove_model
from mlcore.config import reload_config
from tests.images import image_bytes, upload
from tests.worker.worker_helpers import run_task

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def mlcore_env(monkeypatch):
    """Set mlcore's environment for this test (mlcore reads it once) and read it again afterwards."""

    def setenv(name: str, value: str) -> None:
        monkeypatch.setenv(name, value)
        reload_config()

    yield setenv
    monkeypatch.undo()
    reload_config()


@pytest.fixture
def new_blip_name(tiny_blip_dir, tmp_path, mlcore_env):
    """A new BLIP-family registry name: one catalogue entry, its files in $MLCORE_MODELS_DIR/<name>."""
    add_model(ModelEntry("blip-house-test", "example-org/blip-house-test", "blip"))
    shutil.copytree(tiny_blip_dir, tmp_path / "models" / "blip-house-test")
    mlcore_env("MLCORE_MODELS_DIR", str(tmp_path / "models"))
    yield "blip-house-test"
    remove_model("blip-house-test")


def post_image(api, **fields):
    return api.post("/api/v1/images/", {"files": [upload("a.png", image_bytes("PNG"))], **fields}, format="multipart")


def test_a_model_added_by_one_catalogue_entry_is_offered_checked_and_captioned(api, tiny_model, new_blip_name):
    assert new_blip_name in caption_model_choices()
    ability = model_abilities([new_blip_name])[new_blip_name]
    assert (ability.styles, ability.languages, ability.known) == (("alt",), ("en",), True)
    response = post_image(api, model=new_blip_name, style="tags")
    assert response.status_code == 400 and "style" in response.json()["errors"]
    response = post_image(api, model=new_blip_name, max_length=6)
    assert response.status_code == 202, response.json()
    run_task()
    image = Image.objects.get()
    assert image.status == Image.Status.DONE, image.error
    assert image.model_spec == new_blip_name and image.current_caption.text


def test_the_inhouse_model_is_offered_where_a_trained_checkpoint_exists(api, tiny_model, tiny_inhouse_dir, tmp_path,
                                                                      mlcore_env):
    mlcore_env("MLCORE_MODELS_DIR", str(tmp_path / "no-models"))
    assert "inhouse" not in caption_model_choices()
    response = post_image(api, model="inhouse")
    assert response.status_code == 400 and "model" in response.json()["errors"]
    mlcore_env("MLCORE_MODEL_INHOUSE", tiny_inhouse_dir)
    assert "inhouse" in caption_model_choices()
    response = post_image(api, model="inhouse", max_length=6, min_length=2)
    assert response.status_code == 202, response.json()
    run_task()
    image = Image.objects.get()
    assert image.status == Image.Status.DONE, image.error
    assert image.current_caption.model_id == tiny_inhouse_dir
