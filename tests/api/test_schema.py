"""The OpenAPI schema, the Swagger UI (served locally), and a schemathesis run against the live
schema: no 5xx and no response that breaks the schema."""

import pytest
import schemathesis
from django.contrib.staticfiles import finders
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import bearer

pytestmark = pytest.mark.django_db


def test_the_schema_documents_every_operation(client):
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    operations = {op["operationId"] for path in schema["paths"].values() for op in path.values() if isinstance(op, dict)}
    assert operations >= {
        "auth_token_obtain", "auth_token_refresh", "auth_token_verify", "auth_logout",
        "api_keys_list", "api_keys_create", "api_keys_revoke",
        "images_upload", "images_list", "images_retrieve", "images_delete", "images_retry", "images_captions",
        "predict", "batches_create", "batches_retrieve", "batches_export", "demo_caption", "demo_caption_poll",
    }
    images = schema["paths"]["/api/v1/images/"]
    assert images["post"]["description"].startswith("Upload images")
    assert images["get"]["description"].startswith("The caller's images")
    assert {"jwtAuth", "ApiKey"} <= set(schema["components"]["securitySchemes"])
    assert images["post"]["responses"]["202"]["content"]["application/json"]["examples"]
    upload_fields = schema["components"]["schemas"]["ImageUploadInputRequest"]["properties"]
    assert upload_fields["files"]["items"]["format"] == "binary" and "num_beams" in upload_fields


def test_swagger_ui_is_served_from_our_own_static_files(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower() and "unpkg" not in page.lower()
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")


@pytest.fixture
def wsgi_app(db):
    """The site's WSGI application, called in-process inside the test's transaction. As Django's
    test client does, the end of a request must not close the test's database connection."""
    from captionsite.wsgi import application

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield application
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def _load_schema():
    # Loaded when the module is collected (Django is set up by then; no database is touched).
    # schemathesis's lazy fixture loader does not work with this pytest; the eager one does.
    from captionsite.wsgi import application

    signals.request_finished.disconnect(close_old_connections)
    try:
        return schemathesis.openapi.from_wsgi("/api/v1/schema/", application)
    finally:
        signals.request_finished.connect(close_old_connections)


schema = _load_schema()

# No server error, and every answer as documented: its status, content type, headers and body.
# (Whether lenient input such as {"name": 0} should be refused is not in question here.)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def auth_headers(user) -> dict:
    return {"Authorization": bearer(user)}


@pytest.mark.slow
@schema.parametrize()
@hypothesis_settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)
def test_the_api_keeps_to_its_schema(case, wsgi_app, auth_headers, settings):
    settings.PREDICT_WAIT_SECONDS = 0  # no worker here: predict and the demo answer 202 at once
    settings.RATELIMIT_ENABLE = False  # the limits have their own tests; here they would hide the rest
    case.call_and_validate(headers=auth_headers, checks=CHECKS)
