"""One caption request is checked once, where it enters: an upload through the API or the web
form runs the request check (captions.caption_request.caption_request_check) once and asks once
what the model can write (mlcore.capabilities), refused or not; the services take the checked
value. A model spec is checked for length where it enters (never a 500 at the column)."""

import pytest

import captions.caption_request
import mlcore.capabilities
from captions.models import Image
from tests.images import image_bytes, upload

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture
def calls(monkeypatch):
    """Counts the calls of the one request check and of the model's ability lookups (spies that
    call through to the real functions)."""
    counted = {"request": 0, "style": 0}

    def spy(module, name, kind):
        real = getattr(module, name)

        def counting(*args, **kwargs):
            counted[kind] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, counting)

    spy(captions.caption_request, "caption_request_check", "request")
    spy(mlcore.capabilities, "spec_refusals", "style")
    spy(mlcore.capabilities, "check_spec_style", "style")
    return counted


@pytest.fixture
def site(settings, tiny_blip_dir, tiny_vlm_dir):
    settings.CAPTION_MODEL = tiny_blip_dir
    settings.CAPTION_MODEL_CHOICES = [tiny_vlm_dir]
    return tiny_vlm_dir


def jpeg(name="a.jpg"):
    return upload(name, image_bytes("JPEG"))


@pytest.mark.parametrize("url, files_field", [("/api/v1/images/", "files"), ("/api/v1/batches/", "files"),
                                              ("/api/v1/predict/", "file")])
def test_one_api_upload_is_one_request_check_and_one_style_check(api, site, calls, settings, url, files_field):
    settings.PREDICT_WAIT_SECONDS = 0
    response = api.post(url, {files_field: jpeg(), "model": site, "style": "tags", "language": "de", "num_beams": 2},
                        format="multipart")
    assert response.status_code == 202, response.content
    assert calls == {"request": 1, "style": 1}
    image = Image.objects.get()
    assert (image.model_spec, image.params["style"], image.params["language"], image.params["num_beams"]) == (
        site, "tags", "de", 2)


def test_one_api_upload_with_nothing_asked_is_still_one_check(api, site, calls):
    assert api.post("/api/v1/images/", {"files": jpeg()}, format="multipart").status_code == 202
    assert calls == {"request": 1, "style": 1}


def test_a_refused_api_upload_names_every_field_after_one_check(api, site, calls):
    response = api.post("/api/v1/images/", {"files": jpeg(), "style": "tags", "language": "de", "num_beams": "0",
                                            "max_length": "many"}, format="multipart")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"style", "language", "num_beams", "max_length"}
    assert calls == {"request": 1, "style": 1}
    assert not Image.objects.exists()


def test_one_web_form_upload_is_one_request_check_and_one_style_check(client, user, site, calls):
    client.force_login(user)
    calls.update(request=0, style=0)  # the login is no upload
    response = client.post("/upload/", {"images": [jpeg()], "model": site, "style": "description", "language": "fr"}, **JSON)
    assert response.status_code == 202, response.content  # the API's upload answer
    assert calls == {"request": 1, "style": 1}
    assert Image.objects.get().params["language"] == "fr"


def test_a_refused_web_form_upload_names_every_field_after_one_check(client, user, site, calls):
    client.force_login(user)
    calls.update(request=0, style=0)
    response = client.post("/upload/", {"images": [jpeg()], "style": "tags", "language": "de"}, **JSON)
    assert response.status_code == 400
    assert {"style", "language"} <= set(response.json()["errors"])
    assert calls == {"request": 1, "style": 1}
    assert not Image.objects.exists()


# --- The model spec's length, where it enters --------------------------------------------------------


@pytest.mark.parametrize("length", [301, 400, 500])
@pytest.mark.parametrize("url, files_field", [("/api/v1/images/", "files"), ("/api/v1/batches/", "files"),
                                              ("/api/v1/predict/", "file")])
def test_an_api_model_spec_longer_than_its_column_is_a_400_naming_model(api, site, url, files_field, length):
    response = api.post(url, {files_field: jpeg(), "model": "m" * length}, format="multipart")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["detail"].startswith("model: ") and "300" in body["errors"]["model"][0], body
    assert not Image.objects.exists()


def test_a_web_form_model_spec_longer_than_its_column_is_a_field_error(client, user, site):
    client.force_login(user)
    response = client.post("/upload/", {"images": [jpeg()], "model": "m" * 400}, **JSON)
    assert response.status_code == 400
    assert "300" in " ".join(response.json()["errors"]["model"])
    assert not Image.objects.exists()


def test_a_long_spec_from_the_sites_own_callers_is_refused_by_the_check(db):
    """The site's own callers (a fine-tuning run's checkpoint, the benchmark) name any spec, but
    not one longer than the column."""
    from django.core.exceptions import ValidationError

    from captions.caption_request import caption_request_check
    from captions.models import MODEL_SPEC_MAX_LENGTH

    assert Image._meta.get_field("model_spec").max_length == MODEL_SPEC_MAX_LENGTH
    with pytest.raises(ValidationError) as refused:
        caption_request_check({"model": "/models/" + "x" * 320}, offered_model=False)
    assert "300 characters" in refused.value.message_dict["model"][0]
    request = caption_request_check({"model": "/models/" + "x" * 200, "num_beams": 2}, offered_model=False)
    assert (request.model_spec, request.params.num_beams) == ("/models/" + "x" * 200, 2)


def test_the_command_line_request_is_checked_once(calls, site, tmp_path):
    from django.core.management import CommandError, call_command

    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.png").write_bytes(image_bytes("PNG"))
    with pytest.raises(CommandError, match="--style: .*cannot write the caption style 'tags'") as refused:
        call_command("caption_folder", str(folder), "--out", str(tmp_path / "c.csv"), "--style", "tags",
                     "--params", "num_beams=0", verbosity=0)
    assert "--params: num_beams" in str(refused.value)
    assert calls == {"request": 1, "style": 1}


def test_a_cross_field_rule_is_not_judged_against_a_value_the_field_refused(api, site):
    """num_beams=abc is refused by its field: num_alternatives=5 is not also called "more than
    num_beams (3)", a value the caller never sent; with num_beams valid the rule holds."""
    response = api.post("/api/v1/images/", {"files": jpeg(), "num_beams": "abc", "num_alternatives": 5},
                        format="multipart")
    assert response.status_code == 400 and set(response.json()["errors"]) == {"num_beams"}
    response = api.post("/api/v1/images/", {"files": jpeg(), "num_beams": 2, "num_alternatives": 5},
                        format="multipart")
    assert response.status_code == 400 and set(response.json()["errors"]) == {"num_alternatives"}
    assert "must not exceed num_beams (2)" in response.json()["errors"]["num_alternatives"][0]
