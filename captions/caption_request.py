"""One caption request: what a person asks an image to be captioned with (the model, the
generation parameters, the caption style and language), as one value, checked once.

Every surface where a request enters builds it with ONE call of `caption_request_check`: the
upload form, the API's serializers, the command line (`caption_folder`, `evaluate`), the review
queue's and the gallery's re-caption. That call names every field at fault at once
(ValidationError {field: [messages]}); what it returns is a `CaptionRequest` the services take
as it is (captions.services.submission.image_submit, the re-caption services) and never check
again: a check, then a do.

Adding a request field (free-text `context`, a `purpose`, ...): one attribute of CaptionRequest
(with its default), its check in `caption_request_check` (an error under the field's name), and
the field where it enters (a form field, a serializer field); the services store it from the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

from captions.models import MODEL_SPEC_MAX_LENGTH
from mlcore.params import CROSS_FIELD_RULES, GenerationParams, InvalidParams

#: The longest model spec a request may name: the length of Image.model_spec's column (a test
#: holds them equal; captions.models does not import this module, which imports the services).
#: The fields of a request as the surfaces name them: `model` and the generation parameters.
GENERATION_FIELDS = tuple(GenerationParams.field_names())
REQUEST_FIELDS = ("model", *GENERATION_FIELDS)


@dataclass(frozen=True)
class CaptionRequest:
    """A checked caption request. `model_spec` "" means the site's active model (read when the
    image is captioned); `params` are mlcore's GenerationParams, style and language included."""

    model_spec: str = ""
    params: GenerationParams = field(default_factory=GenerationParams)
    #: the generation parameters the request named itself (the others are defaults): a
    #: re-caption keeps an image's own values of the others (its purpose, its context)
    named: frozenset[str] = frozenset()

    @property
    def style(self) -> str:
        return self.params.style

    @property
    def language(self) -> str:
        return self.params.language

    def params_dict(self) -> dict:
        """The generation parameters as stored with an image (Image.params)."""
        return self.params.to_dict()


def caption_request_check(
    values: Mapping,
    *,
    owner=None,
    offered_model: bool = True,
    refused=(),
    model_field: str = "model",
) -> CaptionRequest:
    """The one check of a caption request: `values` as the surface parsed them (`model` and
    generation parameter names; None or "" = the default). Returns a CaptionRequest or raises
    ValidationError naming EVERY field at fault at once:

    - `model` (under `model_field`): longer than MODEL_SPEC_MAX_LENGTH; with `offered_model` (a
      model a person named) not one of captions.selectors.caption_model_choices nor an ensemble
      of them. The site's own callers (a fine-tuning run, the benchmark) name any spec.
    - each bad generation parameter (unknown name, `style` unknown, `language` not BCP 47, ranges,
      cross-field rules), in mlcore's words;
    - `style` and/or `language` that the model (or the active one) certainly cannot write,
      decided without loading it (mlcore.capabilities.spec_refusals, one call). A spec mlcore
      cannot resolve in this process is left to the worker (it fails the image with the reason).

    `refused`: the fields the surface refused itself (a number that is no number, a value too
    long): they are not judged again, and with `model` among them the style and language are
    not judged against a model. The owner's caption_language fills in a missing `language` where
    the model can write it (English otherwise).
    """
    from captions.selectors import captioning_defaults
    from captions.services.styles import custom_styles_sync, model_spec_clean
    from mlcore.styles import BUILTIN_STYLES

    refused = set(refused)
    errors: dict[str, list[str]] = {}

    model_known = "model" not in refused
    spec = str(values.get("model") or "").strip() if model_known else ""
    if len(spec) > MODEL_SPEC_MAX_LENGTH:
        errors[model_field] = [f"A model spec has at most {MODEL_SPEC_MAX_LENGTH} characters "
                               f"(this one has {len(spec)})."]
        model_known, spec = False, ""
    elif offered_model and spec:
        try:
            spec = model_spec_clean(spec)
        except ValidationError as error:
            errors[model_field] = error.message_dict["model"]
            model_known, spec = False, ""

    raw = {name: value for name, value in values.items()
           if name != "model" and name not in refused and value is not None and value != ""}
    for name in [name for name in raw if name not in GENERATION_FIELDS]:
        errors[name] = [f"unknown generation parameter; known: {', '.join(sorted(GENERATION_FIELDS))}"]
        del raw[name]
    if raw.get("style") and raw["style"] not in BUILTIN_STYLES:
        custom_styles_sync(force=True)  # a style defined a moment ago in another process
    generation = None
    try:
        generation = GenerationParams.from_dict(raw)
    except InvalidParams as error:  # every field at fault
        for name, message in error.errors.items():
            if not CROSS_FIELD_RULES.get(name, frozenset()) & refused:  # a rule against a refused value
                errors.setdefault(name, [message])

    default_language = "" if "language" in values and values["language"] not in (None, "") else _owner_language(owner)
    if model_known:
        style = raw.get("style") if "style" not in errors else None
        language = raw.get("language") if "language" not in errors else None
        asked_language = language or default_language or None
        found = _ability_refusals(spec or captioning_defaults().model_spec, style, asked_language)
        if "language" in found and not language:
            # The owner's default language is one this model cannot write: its default (English) it is.
            default_language = ""
            found = {name: refusal for name, refusal in found.items() if name != "language"}
        for name, message in found.items():
            errors.setdefault(name, [message])
    if errors:
        raise ValidationError(errors)
    if default_language:
        generation = generation.replace(language=default_language)
    return CaptionRequest(model_spec=spec, params=generation, named=frozenset(raw))


def _owner_language(owner) -> str:
    """The owner's default caption language when it is a valid tag, else ""."""
    from mlcore.styles import InvalidLanguage, check_language

    language = getattr(owner, "caption_language", "") or ""
    if not language:
        return ""
    try:
        return check_language(language)
    except InvalidLanguage:
        return ""


def _ability_refusals(spec: str, style: str | None, language: str | None) -> dict[str, str]:
    """{"style"/"language": why} for what `spec` certainly cannot write (one capability lookup)."""
    import mlcore
    from mlcore.capabilities import spec_refusals

    try:
        return {name: refusal.message for name, refusal in spec_refusals(spec, style=style, language=language).items()}
    except InvalidParams:
        return {}  # a value invalid on its own: its own error says why
    except mlcore.ModelLoadError:
        return {}  # a spec mlcore cannot resolve here: the worker reports it on the image
