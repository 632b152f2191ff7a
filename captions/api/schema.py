"""A drf-spectacular postprocessing hook: the generation parameters' ranges (mlcore PARAM_RANGES:
minimum, maximum, exclusive minimum), the caption styles (an enum) and the language tag grammar,
and the upload's file field(s) required, on every request body that has them, so the schema says
exactly what the server accepts."""

from mlcore.params import PARAM_RANGES
from mlcore.styles import STYLES

# The shape every BCP 47 tag has (subtags of 1-8 letters and digits; "_" is taken for "-"), or
# empty for the default. Whether a tag of that shape is well-formed and registered is
# mlcore.styles.check_language's call (langcodes); the field's description says so.
LANGUAGE_PATTERN = r"^(?:[A-Za-z0-9]{1,8}(?:[-_][A-Za-z0-9]{1,8})*)?$"


def _ranges(properties: dict) -> None:
    for name, spec in PARAM_RANGES.items():
        field = properties.get(name)
        if not isinstance(field, dict):
            continue
        field["minimum"] = spec.min
        field["maximum"] = spec.max
        if not spec.min_inclusive:
            field["exclusiveMinimum"] = True
    if isinstance(properties.get("style"), dict):
        properties["style"]["enum"] = ["", *sorted(STYLES)]  # "": the default
    if isinstance(properties.get("language"), dict):
        properties["language"].update(pattern=LANGUAGE_PATTERN, maxLength=35)


def document_accepted_input(result, generator, request, public):
    for name, component in result.get("components", {}).get("schemas", {}).items():
        properties = component.get("properties")
        if not isinstance(properties, dict):
            continue
        if "num_beams" in properties:
            _ranges(properties)
        if name.startswith("DemoInput"):
            from captions.api.predict import DEMO_PARAM_CAPS

            for field_name, cap in DEMO_PARAM_CAPS.items():  # the demo's own, lower maximums
                if isinstance(properties.get(field_name), dict):
                    properties[field_name]["maximum"] = min(properties[field_name].get("maximum", cap), cap)
        for file_field in ("files", "file"):
            if name.endswith("Request") and file_field in properties and "num_beams" in properties:
                component.setdefault("required", [])
                if file_field not in component["required"]:
                    component["required"].append(file_field)
                field = properties[file_field]
                if field.get("type") == "array":
                    field["minItems"] = 1
                    field = field.get("items", {})
                if field.get("format") == "binary":
                    field["minLength"] = 1  # an empty file is no image
    return result
