"""Generation parameters on the command line: JSON ('{"num_beams": 3}') or key=value pairs."""

import json

from django.core.management.base import CommandError


def parse_params(values: list[str] | None):
    from mlcore.params import GenerationParams, InvalidParams

    raw: dict = {}
    for value in values or []:
        value = value.strip()
        if value.startswith("{"):
            try:
                raw.update(json.loads(value))
            except json.JSONDecodeError as error:
                raise CommandError(f"--params is not valid JSON: {error}") from None
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
        raise CommandError(f"--params: {error.field}: {error.message}") from None
    except TypeError as error:
        raise CommandError(f"--params: {error}") from None
