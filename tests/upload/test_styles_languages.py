"""The site's side: caption styles, languages and model choice through the API, the
upload form, the admin and the worker, with a tiny random LLaVA (benchmarks.testing_vlm) and a tiny
BLIP (prompt-less: alt in English only)."""

import csv
import io

import pytest
from django.urls import reverse
from django_q.tasks import async_task

from captions.models import Caption, CaptionStyleDefinition, Image
from tests.images import image_bytes, upload

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def vlm_site(settings, tiny_vlm_dir, tiny_blip_dir):
    """The site captions with the tiny LLaVA; the tiny BLIP is offered as another model."""
    settings.CAPTION_MODEL = tiny_vlm_dir
    settings.CAPTION_MODEL_CHOICES = [tiny_blip_dir]
    return tiny_vlm_dir


@pytest.fixture
def keywords_style(db):
    """A custom style of the tags kind. (The built-in `tags` asks for up to 60 tokens, which a
    random tiny model fills with one comma-less run of words: no tag of at most 60 characters.)
    With max_chars 0 a 5-token answer is one short keyword phrase: a real list from a real model."""
    from captions.services.styles import caption_style_save

    caption_style_save(name="keywords", prompt="List keywords in {language}, comma-separated.", kind="tags")
    return "keywords"


def run_worker():
    """The worker task through django-q2's own code, in this process."""
    return async_task("captions.tasks.caption_pending", sync=True)


def post_image(api, color=(200, 30, 30), url="/api/v1/images/", **fields):
    data = {"files": [upload("a.png", image_bytes("PNG", color=color))], **fields}
    return api.post(url, data, format="multipart")


@pytest.mark.slow  # the description style asks for at least 200 new tokens (~30 s on a shared CPU)
def test_description_in_french_through_the_api_and_the_worker(api, vlm_site):
    response = post_image(api, style="description", language="fr", max_length=12)
    assert response.status_code == 202, response.json()
    public_id = response.json()["images"][0]["id"]
    assert Image.objects.get(public_id=public_id).params["style"] == "description"

    run_worker()

    image = Image.objects.get(public_id=public_id)
    assert image.status == Image.Status.DONE, image.error
    caption = image.current_caption
    assert (caption.style, caption.language, caption.tags) == ("description", "fr", None)
    assert "French" in caption.prompt and caption.prompt.startswith("Describe this image")
    assert caption.details["confidence_source"] == "model_scores"
    body = api.get(f"/api/v1/images/{public_id}/").json()["caption"]
    assert (body["style"], body["language"], body["prompt"], body["tags"]) == ("description", "fr", caption.prompt, None)


def test_tags_style_stores_a_list_shown_in_the_api_and_the_exports(api, vlm_site, keywords_style):
    response = api.post(
        "/api/v1/batches/",
        {"files": [upload("t.png", image_bytes("PNG", color=(10, 200, 40)))], "style": "keywords", "max_length": 5},
        format="multipart",
    )
    assert response.status_code == 202, response.json()
    batch = response.json()["batch"]
    run_worker()

    caption = Caption.objects.get(image__batch_id=batch)
    assert caption.style == "keywords"
    assert isinstance(caption.tags, list) and caption.tags and all(isinstance(t, str) and t for t in caption.tags)
    assert caption.text == ", ".join(caption.tags)

    rows = api.get(f"/api/v1/batches/{batch}/export/?format=json").json()
    assert rows[0]["tags"] == caption.tags and rows[0]["style"] == "keywords" and rows[0]["language"] == "en"
    text = api.get(f"/api/v1/batches/{batch}/export/?format=csv").content.decode()
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["tags"].split("; ") == caption.tags and row["style"] == "keywords"
    assert api.get(f"/api/v1/images/{rows[0]['id']}/").json()["caption"]["tags"] == caption.tags


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"style": "tags"}, "style", "cannot write the caption style 'tags'"),
        ({"style": "description"}, "style", "cannot write the caption style"),
        ({"language": "fr"}, "language", "cannot write the language 'fr'"),
        ({"style": "haiku"}, "style", "unknown caption style"),
        ({"language": "not a language"}, "language", "BCP 47"),
    ],
)
def test_a_prompt_less_model_refuses_what_it_cannot_write_with_a_400(api, tiny_model, fields, field, words):
    for url in ("/api/v1/images/", "/api/v1/batches/", "/api/v1/predict/"):
        files_field = "file" if url.endswith("predict/") else "files"
        data = {files_field: upload("a.png", image_bytes("PNG")), **fields}
        response = api.post(url, data, format="multipart")
        assert response.status_code == 400, (url, response.content)
        body = response.json()
        assert words in str(body["errors"][field]) if "errors" in body else words in str(body), body
    assert not Image.objects.exists()


def test_the_upload_form_refuses_tags_for_blip_and_queues_a_vlm_style(client, user, settings, tiny_model, tiny_vlm_dir):
    client.force_login(user)
    response = client.post(
        reverse("captions:upload"), {"images": [upload("a.png", image_bytes("PNG"))], "style": "tags"}
    )
    assert response.status_code == 400
    assert "cannot write the caption style" in str(response.context["form"].errors["style"])
    assert not Image.objects.exists()

    settings.CAPTION_MODEL_CHOICES = [tiny_vlm_dir]
    response = client.post(
        reverse("captions:upload"),
        {"images": [upload("a.png", image_bytes("PNG"))], "style": "tags", "language": "de", "model": tiny_vlm_dir},
    )
    assert response.status_code == 302
    image = Image.objects.get()
    assert (image.params["style"], image.params["language"], image.model_spec) == ("tags", "de", tiny_vlm_dir)

    response = client.post(
        reverse("captions:upload"), {"images": [upload("a.png", image_bytes("PNG"))], "model": "no-such-model"}
    )
    assert response.status_code == 400 and "Unknown model" in str(response.context["form"].errors["model"])


def test_cache_key_includes_style_and_language(api, vlm_site, keywords_style):
    for fields in ({}, {"style": "keywords"}, {"language": "de"}, {"style": "keywords"}):
        assert post_image(api, color=(1, 2, 3), max_length=5, **fields).status_code == 202
        run_worker()
    captions = list(Caption.objects.order_by("id"))
    assert [c.source for c in captions] == ["model", "model", "model", "cache"]
    assert len({c.cache_key for c in captions[:3]}) == 3
    assert captions[3].cache_key == captions[1].cache_key and captions[3].tags == captions[1].tags
    assert [(c.style, c.language) for c in captions] == [
        ("alt", "en"), ("keywords", "en"), ("alt", "de"), ("keywords", "en")
    ]

    # Editing the custom style's prompt changes the key: the older caption is not reused.
    from captions.services.styles import caption_style_save

    definition = CaptionStyleDefinition.objects.get(name="keywords")
    caption_style_save(name="keywords", prompt="Keywords ({language}):", kind="tags", definition=definition)
    assert post_image(api, color=(1, 2, 3), max_length=5, style="keywords").status_code == 202
    run_worker()
    newest = Caption.objects.order_by("-id").first()
    assert newest.source == "model" and newest.cache_key != captions[1].cache_key
    assert newest.prompt == "Keywords (English):"


def test_model_chosen_by_name_and_ensembles_of_offered_models(api, vlm_site, tiny_blip_dir):
    response = post_image(api, model=tiny_blip_dir)
    assert response.status_code == 202, response.json()
    run_worker()
    image = Image.objects.get()
    assert image.model_spec == tiny_blip_dir and image.status == Image.Status.DONE, image.error
    assert image.current_caption.prompt == "a picture of "  # BLIP's conditional prompt is recorded

    # The VLM can write French; an ensemble with BLIP cannot (the intersection): refused upfront.
    response = post_image(api, model=f"ensemble:{vlm_site},{tiny_blip_dir}", language="fr")
    assert response.status_code == 400 and "language" in response.json()["errors"]
    response = post_image(api, model=f"ensemble:{vlm_site},{tiny_blip_dir}", max_length=5)
    assert response.status_code == 202
    run_worker()
    mixed = Image.objects.get(public_id=response.json()["images"][0]["id"])
    assert mixed.status == Image.Status.DONE, mixed.error
    assert mixed.current_caption.model_id.startswith("ensemble:") and mixed.current_caption.text
    for bad in ("no-such-model", f"ensemble:{vlm_site},elsewhere", "ensemble:"):
        response = post_image(api, model=bad)
        assert response.status_code == 400 and "model" in response.json()["errors"], bad


def test_the_users_default_language_applies_where_the_model_can_write_it(
    api, client, user, vlm_site, settings, tiny_blip_dir
):
    client.force_login(user)
    page = reverse("accounts:caption_language")
    response = client.post(page, {"caption_language": "not a tag!"})
    assert response.status_code == 400 and "BCP 47" in str(response.context["form"].errors["caption_language"])
    assert client.post(page, {"caption_language": "pt-br"}).status_code == 302
    user.refresh_from_db()
    assert user.caption_language == "pt-BR"
    assert "pt-BR" in client.get(reverse("captions:gallery")).content.decode()
    assert client.post(page, {"caption_language": "de"}).status_code == 302
    assert post_image(api).status_code == 202
    assert post_image(api, language="it").status_code == 202
    assert post_image(api, model=tiny_blip_dir).status_code == 202  # BLIP: English, not a refusal
    assert [i.params["language"] for i in Image.objects.order_by("id")] == ["de", "it", "en"]


def test_a_custom_style_defined_in_the_admin_reaches_the_worker(api, client, make_user, vlm_site):
    import mlcore
    from captions.services import styles

    staff = make_user("staff@example.com", is_staff=True, is_superuser=True)
    client.force_login(staff)
    add_url = reverse("admin:captions_captionstyledefinition_add")
    for bad, field in (({"name": "alt"}, "name"), ({"prompt": "Write {what} here"}, "prompt"),
                       ({"name": "Bad Name"}, "name")):
        data = {"name": "product", "prompt": "Describe the product in {language}.", "max_chars": 80,
                "kind": "sentence", **bad}
        response = client.post(add_url, data)
        assert response.status_code == 200 and field in response.context["adminform"].form.errors, bad
    response = client.post(
        add_url, {"name": "product", "prompt": "Describe the product in {language}.", "max_chars": 80, "kind": "sentence"}
    )
    assert response.status_code == 302
    assert "product" in mlcore.styles.style_names()  # this process registered it on save

    # A worker process that has not seen it yet (another process: mlcore does not know the style).
    mlcore.unregister_style("product")
    styles._registered.clear()
    assert post_image(api, style="product", language="es").status_code == 202
    mlcore.unregister_style("product")
    styles._registered.clear()
    run_worker()
    caption = Image.objects.get().current_caption
    assert (caption.style, caption.language) == ("product", "es")
    assert caption.prompt == "Describe the product in Spanish."
    assert len(caption.text) <= 80

    definition = CaptionStyleDefinition.objects.get(name="product")
    response = client.post(reverse("admin:captions_captionstyledefinition_delete", args=[definition.pk]), {"post": "yes"})
    assert response.status_code == 302
    response = post_image(api, style="product")
    assert response.status_code == 400 and "unknown caption style" in str(response.json()["errors"]["style"])


def test_caption_folder_with_style_and_language(tmp_path, vlm_site, tiny_model, keywords_style):
    import json

    from django.core.management import CommandError, call_command

    folder = tmp_path / "pics"
    folder.mkdir()
    (folder / "a.png").write_bytes(image_bytes("PNG"))
    out = tmp_path / "out.json"
    call_command("caption_folder", str(folder), "--out", str(out), "--model", vlm_site,
                 "--style", "keywords", "--language", "fr", "--params", "max_length=5", verbosity=0)
    row = json.loads(out.read_text())[0]
    assert (row["style"], row["language"]) == ("keywords", "fr") and row["tags"] and isinstance(row["tags"], list)
    with pytest.raises(CommandError, match="--style: .*cannot write the caption style 'tags'"):
        call_command("caption_folder", str(folder), "--out", str(tmp_path / "b.csv"), "--model", tiny_model,
                     "--style", "tags", verbosity=0)
    with pytest.raises(CommandError, match="--language"):
        call_command("caption_folder", str(folder), "--out", str(tmp_path / "c.csv"), "--language", "??", verbosity=0)


def test_the_engine_record_is_shown_to_staff_on_the_detail_page(client, make_user, api, user, tiny_model):
    from django.utils import timezone

    def captioned_image(owner):
        image = Image.objects.create(
            owner=owner, file="images/x.png", original_filename="x.png", sha256="0" * 64, width=1, height=1,
            format="PNG", byte_size=1, status=Image.Status.DONE, available_at=timezone.now(),
        )
        caption = Caption.objects.create(
            image=image, text="Un chien.", style="alt", language="fr", prompt="Write alt text in French",
            details={"confidence_source": "logprobs", "engine": "smolvlm-256m",
                     "fallback": {"engine": "smolvlm-256m", "position": 1,
                                  "failed": [{"engine": "openai:http://gpu:8000/v1#big", "error": "connection refused"}]}},
        )
        Image.objects.filter(pk=image.pk).update(current_caption=caption)
        return image

    staff = make_user("staff@example.com", is_staff=True, perms=["monitoring.view_operations"])
    for owner, shown in ((staff, True), (user, False)):
        client.force_login(owner)
        image = captioned_image(owner)
        page = client.get(reverse("captions:image_detail", args=[image.public_id])).content.decode()
        assert "Write alt text in French" in page and ">alt <" in page
        assert ("connection refused" in page) is shown and ("openai:http://gpu:8000/v1#big" in page) is shown
    # The API shows the confidence source to everyone, the engines only to staff.
    details = api.get(f"/api/v1/images/{image.public_id}/").json()["caption"]["details"]
    assert details == {"confidence_source": "logprobs"}


def test_engine_events_are_counted_per_engine_without_credentials():
    from prometheus_client import REGISTRY

    from mlcore.engines import emit

    def value(engine, event):
        return REGISTRY.get_sample_value("captionsite_engine_events_total", {"engine": engine, "event": event}) or 0

    before = value("openai:http://gpu:8000/v1#m", "request_retry")
    emit("request_retry", "openai:http://me:secret@gpu:8000/v1#m", status=503, attempt=1, delay_s=0.1)
    assert value("openai:http://gpu:8000/v1#m", "request_retry") == before + 1
    failed_before = REGISTRY.get_sample_value(
        "captionsite_engine_images_total", {"engine": "fallback-a", "event": "engine_failed"}) or 0
    emit("engine_failed", "fallback-a", error="down", images=3)
    assert REGISTRY.get_sample_value(
        "captionsite_engine_images_total", {"engine": "fallback-a", "event": "engine_failed"}) == failed_before + 3


def test_a_style_the_worker_finds_unsupported_fails_the_image_for_good_with_the_reason(user, tiny_model):
    """What the web process could not check (its host lacks the model's files) the worker refuses."""
    from django.utils import timezone

    from captions.services.submission import image_submit

    image = image_submit(owner=user, files=[upload("a.png", image_bytes("PNG"))]).accepted[0]
    Image.objects.filter(pk=image.pk).update(params={**image.params, "style": "tags"}, available_at=timezone.now())
    run_worker()
    image.refresh_from_db()
    assert (image.status, image.attempts) == (Image.Status.FAILED, 1)
    assert "cannot write the caption style 'tags'" in image.error and "alt" in image.error
    assert not Caption.objects.exists()
