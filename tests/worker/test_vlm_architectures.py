"""Every vision-language architecture mlcore supports (benchmarks.testing_vlm.VLM_BUILDERS: LLaVA, LLaVA-NeXT,
Qwen2-VL, Qwen2.5-VL, Qwen3-VL, Idefics3/SmolVLM, PaliGemma, Gemma 3, Florence-2), as a tiny random model
saved like a checkpoint, chosen through the API and captioned by the real worker cycle (django-q2's own
task code, in this process)."""

import pytest
from django_q.tasks import async_task

from benchmarks.testing_vlm import VLM_BUILDERS
from captions.models import Image
from tests.images import image_bytes, upload

pytestmark = pytest.mark.django_db(transaction=True)

# what each prompt family is asked: Florence-2 writes English only (task tokens); the others any language
LANGUAGE = {arch: "en" if arch == "florence2" else "de" for arch in VLM_BUILDERS}


@pytest.fixture(scope="module", params=list(VLM_BUILDERS))
def vlm_folder(request, tmp_path_factory):
    arch = request.param
    return arch, str(VLM_BUILDERS[arch](tmp_path_factory.mktemp(arch) / "model"))


def expected_prompt(arch: str, language: str) -> str:
    from mlcore.styles import get_style

    if arch == "florence2":
        return "<CAPTION>"
    if arch == "paligemma":
        return f"caption {language}"
    return get_style("alt").prompt_for(language)


def test_each_vlm_architecture_captions_uploads_through_the_worker(api, vlm_folder, settings, tiny_blip_dir):
    arch, folder = vlm_folder
    settings.CAPTION_MODEL = tiny_blip_dir  # the site's default stays BLIP: the folder is chosen per upload
    settings.CAPTION_MODEL_CHOICES = [folder]
    language = LANGUAGE[arch]
    files = [upload("wide.png", image_bytes("PNG", size=(64, 40), color=(200, 30, 30))),
             upload("tall.png", image_bytes("PNG", size=(36, 70), color=(20, 90, 220)))]
    response = api.post("/api/v1/images/", {"files": files, "model": folder, "style": "alt", "language": language,
                                            "max_length": 6}, format="multipart")
    assert response.status_code == 202, response.json()
    ids = [im["id"] for im in response.json()["images"]]
    assert len(ids) == 2

    async_task("captions.tasks.caption_pending", sync=True)

    prompt = expected_prompt(arch, language)
    if arch not in ("florence2", "paligemma"):
        assert "German" in prompt
    for public_id in ids:
        image = Image.objects.get(public_id=public_id)
        assert image.status == Image.Status.DONE, (arch, image.error)
        assert image.model_spec == folder
        caption = image.current_caption
        assert caption.text.strip(), arch
        assert caption.model_id == folder and caption.source == "model"
        assert (caption.style, caption.language, caption.prompt) == ("alt", language, prompt)
        assert caption.params["max_length"] == 6
        body = api.get(f"/api/v1/images/{public_id}/").json()["caption"]
        assert (body["style"], body["language"], body["prompt"], body["text"]) == (
            "alt", language, prompt, caption.text)
