"""Caption requests as people type them on the command line (caption_folder, evaluate):
--params as JSON ('{"num_beams": 3}') or key=value pairs, with --model, --style and --language,
checked by the one check of a caption request (captions.caption_request.caption_request_check:
mlcore's GenerationParams ranges, the style and language against the model)."""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from captions import caption_request
from mlcore.params import GenerationParams, InvalidParams


def params_values_parse(values: list[str] | None) -> dict:
    """`--params` values (each JSON or comma-separated key=value pairs; later ones win) as a dict,
    not yet checked. CommandError when a value cannot be read."""
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
    return raw


def generation_params_parse(values: list[str] | None) -> GenerationParams:
    """`--params` values as validated GenerationParams (no model to judge them against: evaluate).
    Raises CommandError naming the field at fault."""
    raw = params_values_parse(values)
    try:
        return GenerationParams.from_dict(raw)
    except InvalidParams as error:
        raise CommandError(f"--params: {error}") from None
    except TypeError as error:
        raise CommandError(f"--params: {error}") from None


def caption_request_parse(values: list[str] | None, *, model: str | None = None,
                          **options: str | None) -> caption_request.CaptionRequest:
    """--params, --model and the options of single fields (--style, --language, --purpose,
    --context, --action: over --params) as one checked CaptionRequest. CommandError naming every
    option at fault ("--style: ...; --params: num_beams: ...")."""
    raw = params_values_parse(values)
    raw.update({name: value for name, value in options.items() if value})
    try:
        return caption_request.caption_request_check({"model": model or "", **raw}, offered_model=False)
    except ValidationError as error:
        named = {"model": "--model", **{name: f"--{name}" for name, value in options.items() if value}}
        raise CommandError("; ".join(
            f"{named.get(field, '--params: ' + field)}: {' '.join(messages)}"
            for field, messages in error.message_dict.items()
        )) from None
