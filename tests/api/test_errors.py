"""One error format under /api/, JSON 404 and 500 pages there, and CORS from the environment."""

import pytest
from django.test import RequestFactory

from core import exceptions
from tests.api.conftest import assert_error_format
from tests.images import image_bytes, upload

pytestmark = pytest.mark.django_db


def test_an_unknown_api_url_is_a_json_404(api):
    body = assert_error_format(api.get("/api/v1/no-such-thing/"), 404)
    assert body["code"] == "not_found"


def test_outside_the_api_404s_stay_pages(logged_in_client):
    response = logged_in_client.get("/no-such-page/")
    assert response.status_code == 404 and not response["Content-Type"].startswith("application/json")


def test_a_500_under_the_api_is_json_in_the_same_format():
    response = exceptions.server_error(RequestFactory().get("/api/v1/images/"))
    assert response.status_code == 500
    import json

    body = json.loads(response.content)
    assert set(body) == {"detail", "code", "errors"} and body["code"] == "server_error"
    page = exceptions.server_error(RequestFactory().get("/"))
    assert page.status_code == 500 and not page["Content-Type"].startswith("application/json")


def test_method_not_allowed_is_a_405(api):
    body = assert_error_format(api.patch("/api/v1/predict/", {}), 405)
    assert body["code"] == "method_not_allowed"


def test_malformed_json_is_a_400(api):
    response = api.post("/api/v1/api-keys/", data="{not json", content_type="application/json")
    assert assert_error_format(response, 400)["code"] == "parse_error"


def test_too_many_files_in_one_request_is_a_400_not_a_crash(api, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    files = [upload(f"{i}.jpg", image_bytes("JPEG")) for i in range(3)]
    assert_error_format(api.post("/api/v1/images/", {"files": files}, format="multipart"), 400)


def test_validation_errors_name_every_field(api):
    body = assert_error_format(api.post("/api/v1/api-keys/", {"expires_at": "soon"}, format="json"), 400)
    assert set(body["errors"]) == {"name", "expires_at"}


def test_no_cors_headers_by_default(api):
    response = api.get("/api/v1/images/", HTTP_ORIGIN="https://elsewhere.example")
    assert "Access-Control-Allow-Origin" not in response


def test_cors_origins_come_from_the_settings(anon, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    preflight = anon.options(
        "/api/v1/images/",
        HTTP_ORIGIN="https://app.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization",
    )
    assert preflight.status_code == 200
    assert preflight["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "authorization" in preflight["Access-Control-Allow-Headers"]
    other = anon.options(
        "/api/v1/images/", HTTP_ORIGIN="https://evil.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"
    )
    assert "Access-Control-Allow-Origin" not in other
    # Only the API is shared with other origins.
    page = anon.get("/accounts/login/", HTTP_ORIGIN="https://app.example.com")
    assert "Access-Control-Allow-Origin" not in page


def test_a_session_post_without_csrf_token_is_a_403_in_the_same_format(user):
    from rest_framework.test import APIClient

    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(user)
    assert browser.get("/api/v1/images/").status_code == 200  # the signed-in Swagger UI can read
    response = browser.post("/api/v1/api-keys/", {"name": "x"}, format="json")
    assert "CSRF" in assert_error_format(response, 403)["detail"]


@pytest.mark.parametrize("field, value", [("length_penalty", False), ("num_beams", True), ("max_length", False)])
def test_a_number_field_given_true_or_false_in_json_is_a_400(api, field, value):
    """JSON true/false is not read as 1/0 by a number field (Python's bool is an int)."""
    response = api.post("/api/v1/images/bulk/", {"action": "retry", field: value}, format="json")
    assert_error_format(response, 400, field=field)
