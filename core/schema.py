"""The OpenAPI schema states what the server accepts and how it refuses (drf-spectacular).

- `AutoSchema`: a StrictSerializer (unknown fields are a 400) is an object with
  `additionalProperties: false`.
- `document_refusals` (a postprocessing hook): every operation documents 503 (a dependency is
  down; Retry-After) and 414 (URL too long), every operation with a request body 413 (too large),
  and every operation that answers 429 says so with the error body.
"""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema

from core.serializers import StrictSerializer

_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_REFUSALS = {
    "503": "A service the API depends on (database, Redis) is unavailable; Retry-After says when to try again.",
    "414": "The URL (its query string) is too long.",
}
_BODY_REFUSALS = {"413": "The request (or one of its files) is too large."}


class AutoSchema(SpectacularAutoSchema):
    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if isinstance(serializer, StrictSerializer):
            schema["additionalProperties"] = False
        return schema


def _error_response(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_REF}}}


_NO_NUL = "^[^\\u0000]*$"


def _forbid_nul(component: dict) -> None:
    """Text fields refuse NUL characters (DRF's CharField): the schema says so."""
    for prop in (component.get("properties") or {}).values():
        if isinstance(prop, dict) and prop.get("type") == "string" and not ({"pattern", "format", "enum"} & set(prop)):
            prop["pattern"] = _NO_NUL


def document_refusals(result, generator, request, public):
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request"):
            _forbid_nul(component)
    components = result.get("components", {}).get("schemas", {})
    if "Error" not in components:
        return result
    for path in result.get("paths", {}).values():
        for _method, operation in path.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            body = operation.get("requestBody")
            if body and not body.get("required"):
                # A body with a required field (the upload's files) is itself required.
                refs = [media.get("schema", {}).get("$ref", "") for media in body.get("content", {}).values()]
                if any(components.get(ref.rsplit("/", 1)[-1], {}).get("required") for ref in refs if ref):
                    body["required"] = True
            responses = operation["responses"]
            refusals = dict(_REFUSALS)
            if "requestBody" in operation:
                refusals.update(_BODY_REFUSALS)
            if any(p.get("in") == "query" for p in operation.get("parameters", [])):
                refusals["400"] = "Invalid query parameters; `errors` names them."
            for code, text in refusals.items():
                responses.setdefault(code, _error_response(text))
    return result
