"""A single-valued field given more than once is a 400 naming it, on every endpoint that takes a
form, a query string or JSON (not silently "the last one wins"); `files` of an upload or a batch
is legitimately repeated."""

import pytest
from django.urls import reverse

from captions.models import Batch, Image
from tests.api.conftest import assert_error_format
from tests.images import image_bytes, upload

pytestmark = pytest.mark.django_db


def jpeg(name="a.jpg"):
    return upload(name, image_bytes("JPEG"))


def png(name="b.png"):
    return upload(name, image_bytes("PNG"), "image/png")


def test_predict_with_two_files_is_a_400_saying_send_one(api):
    response = api.post("/api/v1/predict/", {"file": [jpeg(), png()]}, format="multipart")
    body = assert_error_format(response, 400, field="file")
    assert "send one file" in body["detail"].lower() and body["detail"].startswith("file:")
    assert not Image.objects.exists()


def test_demo_with_two_files_is_a_400(anon, settings):
    settings.DEMO_ENABLED = True
    response = anon.post("/api/v1/demo/caption/", {"file": [jpeg(), png()]}, format="multipart")
    assert_error_format(response, 400, field="file")
    assert not Image.objects.exists()


@pytest.mark.parametrize("path", ["/api/v1/images/", "/api/v1/batches/", "/api/v1/predict/"])
def test_a_generation_parameter_given_twice_is_a_400_naming_it(api, path):
    field = "file" if path.endswith("predict/") else "files"
    response = api.post(path, {field: [jpeg()], "num_beams": ["3", "4"]}, format="multipart")
    body = assert_error_format(response, 400, field="num_beams")
    assert body["detail"] == "num_beams: Given 2 times; send one value."
    assert not Image.objects.exists()


def test_a_batch_name_or_model_given_twice_is_a_400(api):
    response = api.post("/api/v1/batches/", {"files": [jpeg()], "name": ["a", "b"], "model": ["x", "y"]},
                        format="multipart")
    body = assert_error_format(response, 400)
    assert {"name", "model"} <= set(body["errors"])


def test_files_may_still_be_repeated(api):
    response = api.post("/api/v1/images/", {"files": [jpeg(), png()]}, format="multipart")
    assert response.status_code == 202
    response = api.post("/api/v1/batches/", {"files": [jpeg(), png()]}, format="multipart")
    assert response.status_code == 202
    assert Batch.objects.count() == 2 and Image.objects.count() == 4


@pytest.mark.parametrize("query", ["status=done&status=queued", "search=a&search=b", "ordering=name&ordering=oldest"])
def test_a_list_filter_given_twice_is_a_400(api, query):
    name = query.partition("=")[0]
    assert_error_format(api.get(f"/api/v1/images/?{query}"), 400, field=name)


def test_batch_list_and_export_parameters_given_twice_are_a_400(api):
    response = api.post("/api/v1/batches/", {"files": [jpeg()]}, format="multipart")
    export = reverse("api:batch-export", args=[response.json()["batch"]])
    assert api.get(export, {"format": "csv"}).status_code == 200
    assert_error_format(api.get(f"{export}?format=csv&format=json"), 400, field="format")
    assert_error_format(api.get("/api/v1/batches/?page=1&page=2"), 400, field="page")


def test_a_json_key_given_twice_is_a_400(api):
    response = api.post("/api/v1/api-keys/", data='{"name": "a", "name": "b"}', content_type="application/json")
    body = assert_error_format(response, 400)
    assert "name" in body["detail"]
    assert api.post("/api/v1/api-keys/", {"name": "a"}, format="json").status_code == 201
