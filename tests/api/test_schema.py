"""The OpenAPI schema, the Swagger UI (served locally), and a schemathesis run against the live
schema: no 5xx and no response that breaks the schema."""

from datetime import UTC

import pytest
import schemathesis
from django.contrib.staticfiles import finders
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import CHECKS as CHECKS_REGISTRY
from schemathesis.specs.openapi.checks import (  # importing registers the OpenAPI checks
    negative_data_rejection,
    positive_data_acceptance,
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
    assert page.startswith("<!DOCTYPE html>") and '<html lang="en">' in page  # a language for screen readers
    assert '<a href="/" id="back-to-site">' in page and '<main id="swagger-ui">' in page  # a way back to the site


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

# `--checks all`: every check schemathesis has, positive and negative data alike: no server
# error, every answer as documented (status, content type, headers, body), documented input
# accepted and undocumented input (out-of-range parameters, unknown fields, missing files) refused.
CHECKS = CHECKS_REGISTRY.get_all()


@pytest.fixture
def auth_headers(user) -> dict:
    return {"Authorization": bearer(user)}


def _rule_beyond_json_schema(case) -> bool:
    """Input that JSON Schema cannot call invalid but the server rightly refuses with a 400 (the
    field descriptions state each rule): an API key expiring in the past, a window whose start is
    after its end, a minimum caption length above the maximum, more alternatives than beams, a
    language tag of the right shape with subtags the IANA registry does not hold."""
    from datetime import datetime

    import langcodes

    def moment(text):
        try:
            value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        except ValueError:
            return None
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    body = case.body if isinstance(case.body, dict) else {}
    query = case.query or {}
    language = body.get("language")
    if isinstance(language, str) and language and not langcodes.tag_is_valid(language.replace("_", "-")):
        return True
    expires = moment(body.get("expires_at")) if body.get("expires_at") else None
    if expires and expires <= datetime.now(UTC):
        return True
    after, before = moment(query.get("created_after")), moment(query.get("created_before"))
    if after and before and after > before:
        return True
    try:
        if body.get("min_length") is not None and int(body["min_length"]) > int(body.get("max_length", 40)):
            return True
        sampling = body.get("do_sample") in (True, "true")
        return not sampling and int(body.get("num_alternatives", 1)) > int(body.get("num_beams", 3))
    except (TypeError, ValueError):
        return False


def _refused_per_file(response) -> bool:
    """An upload of several files answers for each file: the good ones are stored (202) and each
    bad one is listed in `refused` with its reason, so a request with one bad file is not refused
    as a whole."""
    try:
        return response.status_code == 202 and bool(response.json().get("refused"))
    except ValueError:
        return False


def _empty_file_among_others(case) -> bool:
    """A list of files with an empty one among them: an empty file is refused by name while the
    others are stored, and an empty part may not even reach the server (the
    multipart encoder drops it), so such a request is not refused as a whole."""
    body = case.body if isinstance(case.body, dict) else {}
    files = body.get("files")
    return isinstance(files, list) and len(files) > 1 and any(f in ("", b"") for f in files)


def _not_an_image(response) -> bool:
    """The schema can say "a file", not "a file that decodes as an image": a request whose files
    all fail to decode is refused with code files_refused, naming each file and why."""
    try:
        return response.status_code == 400 and response.json().get("code") == "files_refused"
    except ValueError:
        return False


def _model_cannot_do_it(response) -> bool:
    """Which styles and languages a request may ask for depends on the model it names (or the
    active one): BLIP writes `alt` in English only; and `model` must be one the site offers. The
    schema states the syntax (a style name, a BCP 47 tag, a model name); a 400 that names only
    these fields and says why is the capability check, not a schema violation."""
    try:
        body = response.json()
    except ValueError:
        return False
    if not isinstance(body, dict):  # a JSON list (an export): no error body
        return False
    errors = body.get("errors") or {}
    return (
        response.status_code == 400
        and bool(errors)
        and set(errors) <= {"style", "language", "model"}
        and any(("cannot write" in str(m)) or ("Unknown model" in str(m)) or ("not one of" in str(m))
                or ("is not installed" in str(m))
                for m in errors.values())
    )


@pytest.mark.slow
@schema.parametrize()
@hypothesis_settings(
    max_examples=20,
    derandomize=True,  # the same examples every run: CI checks what was checked here, never a new random draw
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)
def test_the_api_keeps_to_its_schema(case, wsgi_app, auth_headers, settings):
    settings.PREDICT_WAIT_SECONDS = 0  # no worker here: predict and the demo answer 202 at once
    settings.RATELIMIT_ENABLE = False  # the limits have their own tests; here they would hide the rest
    response = case.call(headers=auth_headers)
    beyond = _rule_beyond_json_schema(case) or _not_an_image(response) or _model_cannot_do_it(response)
    excluded = [positive_data_acceptance] if beyond else []
    if _refused_per_file(response) or _empty_file_among_others(case):
        excluded.append(negative_data_rejection)
    case.validate_response(response, checks=CHECKS, headers=auth_headers, excluded_checks=excluded or None,
                           transport_kwargs={"headers": auth_headers})


def test_the_schema_states_what_the_server_accepts(client):
    from mlcore.params import PARAM_RANGES

    schema_doc = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    components = schema_doc["components"]["schemas"]
    upload = components["ImageUploadInputRequest"]
    assert upload["additionalProperties"] is False and "files" in upload["required"]
    assert upload["properties"]["files"]["minItems"] == 1
    for name, spec in PARAM_RANGES.items():
        field = upload["properties"][name]
        assert (field["minimum"], field["maximum"]) == (spec.min, spec.max), name
        assert field.get("exclusiveMinimum", False) == (not spec.min_inclusive), name
    assert "alt" in upload["properties"]["style"]["enum"]
    assert upload["properties"]["language"]["maxLength"] == 35
    assert "file" in components["PredictInputRequest"]["required"]
    operation = schema_doc["paths"]["/api/v1/images/"]["post"]
    assert operation["requestBody"]["required"] is True
    assert {"413", "414", "429", "503"} <= set(operation["responses"])
    assert {"400", "503"} <= set(schema_doc["paths"]["/api/v1/api-keys/"]["get"]["responses"])
    page_size = next(p for p in schema_doc["paths"]["/api/v1/feedback/"]["get"]["parameters"] if p["name"] == "page_size")
    assert (page_size["schema"]["minimum"], page_size["schema"]["maximum"]) == (1, 100)
