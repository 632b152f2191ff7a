"""Generation parameters as people type them on the command line (caption_folder, evaluate):
JSON ('{"num_beams": 3}') or key=value pairs, validated by the one validation of generation
parameters, mlcore.params.GenerationParams (ranges in mlcore.params.PARAM_RANGES)."""

import json

from django.core.management.base import CommandError

from mlcore.params import GenerationParams, InvalidParams


def generation_params_parse(values: list[str] | None) -> GenerationParams:
    """`--params` values (each JSON or comma-separated key=value pairs; later ones win) as
    validated GenerationParams. Raises CommandError naming the field at fault."""
    raw: dict = {}
    for value in values or []:
        value = value.strip()
        if value.startswith("{"):
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError as error:
                raise CommandError(f"--params is not valid JSON: {error}") from None
            if not isinstance(parsed, dict):
                raise CommandError("--params: the JSON must be an object of parameter names to values.")
            raw.update(parsed)
            continue
        for pair in filter(None, (part.strip() for part in value.split(","))):
            key, sep, text = pair.partition("=")
            if not sep:
                raise CommandError(f"--params: expected key=value, got {pair!r}")
            try:
                raw[key.strip()] = json.loads(text)
            except json.JSONDecodeError:
                raw[key.strip()] = text
    try:
        return GenerationParams.from_dict(raw)
    except InvalidParams as error:
        raise CommandError(f"--params: {error}") from None
    except TypeError as error:
        raise CommandError(f"--params: {error}") from None
