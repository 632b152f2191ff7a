"""Style, language and model on every surface: the upload form shows a
request the model cannot caption as FIELD errors (with and without JavaScript, nothing stored), says
up front what the site's model writes, and the review queue, the gallery's bulk re-caption and the
API take model, style and language through the same checks, naming the field (and an ensemble's
member that cannot)."""

import html
import json
import re

import pytest
from django.urls import reverse

from captions.models import Caption, Image
from tests.images import image_bytes, upload

pytestmark = pytest.mark.django_db(transaction=True)

GALLERY = "/"
UPLOAD = "/upload/"
JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture
def blip_site(settings, tiny_blip_dir, tiny_vlm_dir):
    """The site captions with the tiny BLIP (alt in English only); the tiny LLaVA is offered."""
    settings.CAPTION_MODEL = tiny_blip_dir
    settings.CAPTION_MODEL_CHOICES = [tiny_vlm_dir]
    return tiny_blip_dir


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def files(n=1):
    return [upload(f"p{i}.png", image_bytes("PNG", color=(10 * i, 80, 90))) for i in range(n)]


def deleted_style() -> str:
    """A custom style that existed when the page was shown and is deleted before the upload."""
    from captions.services.styles import caption_style_delete, caption_style_save

    definition = caption_style_save(name="keywords", prompt="Keywords in {language}:", kind="tags")
    caption_style_delete(definition=definition)
    return "keywords"


def bad_requests(blip: str, vlm: str) -> list[tuple[dict, str, list[str]]]:
    """(fields, the field named, words of the message): one of each class of wrong request."""
    return [
        ({"style": "tags"}, "style", ["cannot write the caption style 'tags'"]),
        ({"language": "de"}, "language", ["cannot write the language 'de'"]),
        ({"style": "haiku"}, "style", ["haiku"]),
        ({"language": "english"}, "language", ["'en' for English"]),
        ({"language": "x"}, "language", ["BCP 47"]),
        ({"model": "no-such-model"}, "model", ["Unknown model", "no-such-model"]),
        ({"model": f"ensemble:{vlm},nowhere"}, "model", ["nowhere"]),
        ({"model": f"ensemble:{vlm},{blip}", "style": "tags"}, "style", [f"its member {blip} cannot"]),
        ({"model": vlm, "style": "deleted"}, "style", ["keywords"]),
    ]


CASE_IDS = ["tags-blip", "de-blip", "unknown-style", "english", "x", "unknown-model", "unknown-member",
            "ensemble-member-cannot", "style-deleted"]


def _fields(fields: dict) -> dict:
    return {**fields, "style": deleted_style()} if fields.get("style") == "deleted" else fields


# --- The upload form ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", range(9), ids=CASE_IDS)
def test_the_upload_form_shows_a_request_the_model_cannot_caption_at_the_field(
    signed_in, blip_site, tiny_vlm_dir, case
):
    fields, field, words = bad_requests(blip_site, tiny_vlm_dir)[case]
    fields = _fields(fields)

    # Without JavaScript: the form again, 400, the error at the field, nothing stored.
    response = signed_in.post(UPLOAD, {"images": files(), **fields})
    assert response.status_code == 400
    form = response.context["form"]
    assert set(form.errors) == {field}, form.errors
    for word in words:
        assert word in " ".join(form.errors[field])
    page = html.unescape(response.content.decode())
    control = re.search(rf'<(?:input|select)[^>]*id="upload-{field}"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in control
    assert f'aria-describedby="upload-{field}-error upload-{field}-hint"' in control
    error = re.search(rf'<span class="error" id="upload-{field}-error">([^<]*)</span>', response.content.decode())
    assert error and words[0] in html.unescape(error.group(1))
    assert "upload-refusals" in page and "was not stored" not in page
    assert not Image.objects.exists()

    # With JavaScript (upload.js asks for JSON): the API's error format, the field named in `errors`.
    response = signed_in.post(UPLOAD, {"images": files(2), **fields}, **JSON)
    assert response.status_code == 400
    body = response.json()
    assert list(body["errors"]) == [field] and words[0] in body["errors"][field][0]
    assert body["detail"] == f"{field}: {body['errors'][field][0]}" and body["code"] == "invalid"
    assert "refused" not in body and "images" not in body
    assert not Image.objects.exists()


def test_the_upload_form_accepts_what_the_chosen_model_can_write(signed_in, blip_site, tiny_vlm_dir, user):
    response = signed_in.post(UPLOAD, {"images": files(), "style": "tags", "language": "de", "model": tiny_vlm_dir},
                              **JSON)
    assert response.status_code == 202, response.content
    body = response.json()
    assert (len(body["images"]), body["refused"], body["batch"]) == (1, [], None)
    image = Image.objects.get()
    assert (image.params["style"], image.params["language"], image.model_spec) == ("tags", "de", tiny_vlm_dir)

    # A file refusal is still a refusal, not a field error.
    response = signed_in.post(UPLOAD, {"images": [upload("notes.txt", b"hello")]}, **JSON)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["files"] and "notes.txt" in response.json()["errors"]["files"][0]


def test_the_page_says_what_each_model_can_write(signed_in, blip_site, tiny_vlm_dir):
    response = signed_in.get(GALLERY)
    page = html.unescape(response.content.decode())
    form = response.context["form"]
    assert form.site_model_text == (
        f"The site's model, {blip_site}, writes alt text in English only; choose a vision-language model "
        f"such as {tiny_vlm_dir} for other styles or languages."
    )
    assert f'<span id="upload-style-ability" aria-live="polite">{form.site_model_text}</span>' in page
    # Without JavaScript the styles BLIP cannot write are labelled; alt is not.
    options = dict(form.fields["style"].choices)
    assert options["tags"] == f"tags (not with {blip_site})" and options["description"].endswith(f"(not with {blip_site})")
    assert options["alt"] == "alt"
    # upload.js reads every offered model's abilities from the page (none of them loaded).
    data = json.loads(re.search(r'<script id="upload-model-abilities" type="application/json">(.*?)</script>',
                                response.content.decode(), re.S).group(1))
    assert data["site"] == blip_site and data["suggestion"] == tiny_vlm_dir  # the first offered that writes all
    assert data["models"][blip_site] == {"styles": ["alt"], "languages": ["en"], "known": True}
    assert data["models"][tiny_vlm_dir] == {"styles": None, "languages": None, "known": True}
    # a registry name is offered only where its files are here; what it writes is known offline either way
    from captions.selectors import model_abilities
    from mlcore.availability import spec_installed

    assert list(model_abilities(["florence-2-base"])["florence-2-base"].styles) == ["alt", "description"]
    assert ("florence-2-base" in data["models"]) == spec_installed("florence-2-base")[0]
    assert list(data["models"]) == form.model_choices


def test_a_site_model_that_writes_everything_labels_no_style(signed_in, settings, tiny_vlm_dir):
    settings.CAPTION_MODEL = tiny_vlm_dir
    form = signed_in.get(GALLERY).context["form"]
    assert all("not with" not in label for _, label in form.fields["style"].choices)
    assert form.site_model_text == f"The site's model, {tiny_vlm_dir}, writes every style in any language."


# --- Gallery bulk re-caption and the review queue --------------------------------------------------


def _captioned(user, model_id="tiny/blip"):
    from django.utils import timezone

    from captions.services.submission import image_submit

    image = image_submit(owner=user, files=files()).accepted[0]
    caption = Caption.objects.create(image=image, text="a cat", raw_text="a cat", confidence=0.1, model_id=model_id,
                                     needs_review=True, params={"num_beams": 3})
    Image.objects.filter(pk=image.pk).update(status=Image.Status.DONE, current_caption=caption,
                                             finished_at=timezone.now())
    return Image.objects.get(pk=image.pk)


# The bulk form's model is a list of the offered names (an unknown one is "not one of the choices").
BULK_CASES = [0, 1, 2, 3, 4, 8]


@pytest.mark.parametrize("case", BULK_CASES, ids=[CASE_IDS[i] for i in BULK_CASES])
def test_bulk_recaption_refuses_with_the_field_named(signed_in, user, blip_site, tiny_vlm_dir, case):
    fields, field, words = bad_requests(blip_site, tiny_vlm_dir)[case]
    fields = _fields(fields)
    fields["model_spec"] = fields.pop("model", blip_site)
    image = _captioned(user)
    response = signed_in.post(reverse("captions:images_bulk"),
                              {"action": "recaption", "ids": [str(image.public_id)], **fields}, follow=True)
    notices = [str(m) for m in response.context["messages"]]
    label = {"style": "Style", "language": "Language", "model": "Model"}[field]
    assert any(n.startswith("Nothing was queued.") and f"{label}: " in n and words[0] in n for n in notices), notices
    assert Image.objects.get(pk=image.pk).status == Image.Status.DONE


def test_bulk_recaption_with_a_vlm_in_another_style_and_language(signed_in, user, blip_site, tiny_vlm_dir):
    image = _captioned(user)
    response = signed_in.post(reverse("captions:images_bulk"), {
        "action": "recaption", "ids": [str(image.public_id)], "model_spec": tiny_vlm_dir, "style": "tags",
        "language": "pt-br",
    }, follow=True)
    assert "1 image queued for a new caption." in [str(m) for m in response.context["messages"]]
    image.refresh_from_db()
    assert (image.status, image.model_spec) == ("queued", tiny_vlm_dir)
    assert (image.params["style"], image.params["language"]) == ("tags", "pt-BR")
    # The bulk form offers the one list of models.
    from captions.selectors import caption_model_choices

    form = signed_in.get(GALLERY).context["recaption_form"]
    assert [v for v, _ in form.fields["model_spec"].choices] == caption_model_choices()


@pytest.mark.parametrize("case", [0, 1, 2, 3, 4, 7, 8], ids=[CASE_IDS[i] for i in (0, 1, 2, 3, 4, 7, 8)])
def test_review_queue_recaption_refuses_with_the_field_named(signed_in, user, blip_site, tiny_vlm_dir, case):
    fields, field, words = bad_requests(blip_site, tiny_vlm_dir)[case]
    fields = _fields(fields)
    model = fields.pop("model", blip_site)
    caption = _captioned(user).current_caption
    if model.startswith("ensemble:"):  # the review queue's list offers names; an ensemble is for the API
        from django.core.exceptions import ValidationError

        from captions.caption_request import caption_request_check

        with pytest.raises(ValidationError) as refused:  # the re-caption's one check (its form's)
            caption_request_check({"model": model, "num_beams": 4, **fields}, model_field="model_spec")
        assert words[0] in " ".join(refused.value.message_dict[field])
        return
    form = {"model_spec": model, "num_beams": 4, "max_length": 20, "num_alternatives": 1, "decision": "reject",
            **fields}
    response = signed_in.post(reverse("feedback:recaption", args=[caption.pk]), form, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    errors = response.context["recaption_form"].errors
    assert field in errors and words[0] in " ".join(errors[field]), errors
    page = html.unescape(response.content.decode())
    control = re.search(rf'<[^>]*name="{field}"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in control and f"id_{field}_error" in control
    assert Image.objects.get(pk=caption.image_id).status == Image.Status.DONE


# --- The API ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", range(9), ids=CASE_IDS)
def test_the_api_names_the_field_in_detail(api, blip_site, tiny_vlm_dir, case):
    fields, field, words = bad_requests(blip_site, tiny_vlm_dir)[case]
    fields = _fields(fields)
    for url in ("/api/v1/images/", "/api/v1/batches/", "/api/v1/predict/"):
        files_field = "file" if url.endswith("predict/") else "files"
        response = api.post(url, {files_field: upload("a.png", image_bytes("PNG")), **fields}, format="multipart")
        assert response.status_code == 400, (url, response.content)
        body = response.json()
        assert body["detail"].startswith(f"{field}: "), (url, body)
        assert field in body["errors"], (url, body)
        for word in words:  # "english" too: the API's pattern refuses it in mlcore's words
            assert word in body["detail"], (url, body)
    assert not Image.objects.exists()


@pytest.mark.parametrize("config", ["[1, 2]", '"blip"', '{"model_type": ["llava"]}', "{not json"])
def test_an_offered_folder_with_a_broken_config_is_unknown_not_a_500(signed_in, settings, tmp_path, tiny_blip_dir,
                                                                     config):
    """A configured choice whose config.json is not a JSON object (or whose model_type is not a
    name): the page and an upload with it work; its abilities are unknown (the worker decides)."""
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text(config)
    settings.CAPTION_MODEL = tiny_blip_dir
    settings.CAPTION_MODEL_CHOICES = [str(broken)]
    response = signed_in.get(GALLERY)
    assert response.status_code == 200
    data = json.loads(re.search(r'<script id="upload-model-abilities" type="application/json">(.*?)</script>',
                                response.content.decode(), re.S).group(1))
    assert data["models"][str(broken)] == {"styles": None, "languages": None, "known": False}
    response = signed_in.post(UPLOAD, {"images": files(), "style": "tags", "model": str(broken)}, **JSON)
    assert response.status_code == 202, response.content
    assert Image.objects.get().model_spec == str(broken)


# --- Every field at fault in one answer ------------------------------------------------------------

SEVERAL_BAD = [
    ({"style": "poem", "model": "nope", "num_beams": "99"}, {"style", "model", "num_beams"}),
    ({"style": "poem", "language": "english"}, {"style", "language"}),
    ({"style": "poem", "language": "english", "model": "nope", "num_beams": "99", "max_length": "-5"},
     {"style", "language", "model", "num_beams", "max_length"}),
    ({"style": "tags", "language": "de", "num_beams": "99"}, {"style", "language", "num_beams"}),  # BLIP: alt, en
    ({"style": "tags", "language": "de"}, {"style", "language"}),
]


@pytest.mark.parametrize("fields,expected", SEVERAL_BAD, ids=["style-model-beams", "style-english",
                                                              "five", "blip-tags-de-beams", "blip-tags-de"])
def test_the_api_names_every_field_at_fault_at_once(api, blip_site, fields, expected):
    for url in ("/api/v1/images/", "/api/v1/batches/", "/api/v1/predict/"):
        files_field = "file" if url.endswith("predict/") else "files"
        response = api.post(url, {files_field: upload("a.png", image_bytes("PNG")), **fields}, format="multipart")
        assert response.status_code == 400, (url, response.content)
        assert set(response.json()["errors"]) == expected, (url, response.json())
    assert not Image.objects.exists()


@pytest.mark.parametrize("fields,expected", [SEVERAL_BAD[4], ({"style": "tags", "language": "de", "model": "nope"},
                                                                {"model"})], ids=["blip-tags-de", "bad-model"])
def test_the_upload_form_marks_every_field_at_fault(signed_in, blip_site, fields, expected):
    response = signed_in.post(UPLOAD, {"images": [upload("a.png", image_bytes("PNG"))], **fields},
                              HTTP_ACCEPT="application/json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == expected
    assert not Image.objects.exists()
