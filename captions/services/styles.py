"""Caption styles, languages and model choice of a captioning request (the host side).

- Custom styles are rows of CaptionStyleDefinition written by staff in the admin; mlcore knows a
  style only once it is registered in the process (mlcore.register_style). custom_styles_sync()
  makes mlcore's custom styles equal the table's: the web process runs it on its first request and
  again at most every STYLE_SYNC_SECONDS (captions.apps), on every save/delete (here), before
  every upload's validation; a worker runs it before every batch (captions.services.worker), so a
  new style reaches running workers without a restart.
- A request's style and language are checked with the rest of it, once, by
  captions.caption_request.caption_request_check.
- model_spec_clean() accepts a model by name from caption_model_choices() (captions.selectors) or
  an ensemble of them.
"""

import logging
import threading
import time

from django.core.exceptions import ValidationError
from django.db import transaction

from captions.models import CaptionStyleDefinition

logger = logging.getLogger(__name__)

# Custom styles this process registered into mlcore from the table (so only those are removed
# when a row goes away; styles registered by other code are left alone).
_registered: dict[str, tuple] = {}
_lock = threading.Lock()
_last_sync = 0.0
STYLE_SYNC_SECONDS = 30.0


def style_definition_validate(*, name: str, prompt: str, max_chars: int, kind: str) -> None:
    """Raise ValidationError (by field) when mlcore would refuse this style definition."""
    from mlcore.styles import BUILTIN_STYLES, CaptionStyle, InvalidStyle

    if name in BUILTIN_STYLES:
        raise ValidationError({"name": [f"'{name}' is a built-in style; choose another name."]})
    try:
        CaptionStyle(name=name, prompt=prompt, max_chars=max_chars, kind=kind)
    except InvalidStyle as error:
        message = str(error)
        field = "name" if "name" in message.split(":")[0] and "must match" in message else (
            "prompt" if "prompt" in message else "max_chars" if "max_chars" in message else
            "kind" if "kind" in message else "name"
        )
        raise ValidationError({field: [message]}) from None


def custom_styles_sync(*, force: bool = True) -> list[str]:
    """Register every CaptionStyleDefinition into mlcore and unregister the ones deleted since.

    Returns the custom style names now registered. With force=False it does nothing when the last
    sync of this process is younger than STYLE_SYNC_SECONDS. A database that is not ready (no
    table yet, before `migrate`) leaves mlcore as it is.
    """
    import mlcore
    from mlcore.styles import InvalidStyle

    global _last_sync
    if not force and time.monotonic() - _last_sync < STYLE_SYNC_SECONDS:
        return sorted(_registered)
    try:
        rows = list(CaptionStyleDefinition.objects.values_list("name", "prompt", "max_chars", "kind"))
    except Exception as error:  # DatabaseError before `migrate`, or no database access allowed here
        logger.warning("Custom caption styles could not be read: %s", error)
        return sorted(_registered)
    with _lock:
        wanted = {name: (prompt, max_chars, kind) for name, prompt, max_chars, kind in rows}
        for name in list(_registered):
            if name not in wanted:
                mlcore.unregister_style(name)
                del _registered[name]
        for name, definition in wanted.items():
            if _registered.get(name) == definition and _in_mlcore(name, definition):
                continue
            try:
                mlcore.register_style(name, definition[0], max_chars=definition[1], kind=definition[2])
            except InvalidStyle as error:  # a row written around the admin's validation
                logger.error("Custom caption style %r is invalid and was skipped: %s", name, error)
                continue
            _registered[name] = definition
        _last_sync = time.monotonic()
    return sorted(_registered)


def _in_mlcore(name: str, definition: tuple) -> bool:
    from mlcore.styles import STYLES

    style = STYLES.get(name)
    return style is not None and (style.prompt, style.max_chars, style.kind) == definition


def caption_style_save(
    *, name: str, prompt: str, max_chars: int = 0, kind: str = "sentence", definition=None
) -> CaptionStyleDefinition:
    """Create (definition=None) or change a custom style; registered in this process at commit,
    in the other processes at their next sync. ValidationError by field when mlcore refuses it."""
    name = (name or "").strip()
    style_definition_validate(name=name, prompt=prompt, max_chars=max_chars, kind=kind)
    if CaptionStyleDefinition.objects.filter(name=name).exclude(pk=getattr(definition, "pk", None)).exists():
        raise ValidationError({"name": [f"A style called '{name}' exists already."]})
    definition = definition or CaptionStyleDefinition()
    definition.name, definition.prompt, definition.max_chars, definition.kind = name, prompt, max_chars, kind
    definition.save()
    transaction.on_commit(custom_styles_sync)
    return definition


def caption_style_delete(*, definition: CaptionStyleDefinition) -> None:
    """Delete a custom style. Captions already written in it keep their style name."""
    definition.delete()
    transaction.on_commit(custom_styles_sync)


def style_choices() -> list[str]:
    """Every style a request may name now: the built-ins and the custom ones (synced first)."""
    from mlcore.styles import style_names

    custom_styles_sync(force=False)
    return style_names()


def model_spec_clean(spec: str | None) -> str:
    """The model a request names, checked against captions.selectors.caption_model_choices():
    one of them, or `ensemble:a,b` whose members are each one of them. "" -> "" (the default).
    Raises ValidationError({"model": [...]}) otherwise."""
    from captions.selectors import caption_model_choices

    spec = (spec or "").strip()
    if not spec:
        return ""
    choices = caption_model_choices()
    members = spec[len("ensemble:"):].split(",") if spec.startswith("ensemble:") else [spec]
    unknown = [m for m in members if m.strip() not in choices]
    from captions.selectors import model_not_installed_reason

    missing = [why for m in unknown if (why := model_not_installed_reason(m.strip()))]
    if missing:  # a registry model whose files are not here: refused before anything is stored
        raise ValidationError({"model": [f"{missing[0]}. Choose one of: {', '.join(choices)}."]})
    if unknown or not all(m.strip() for m in members):
        raise ValidationError(
            {"model": [f"Unknown model {unknown[0] if unknown else spec!r}. Choose one of: {', '.join(choices)} "
                       "(or ensemble:<a>,<b> of them)."]}
        )
    if spec.startswith("ensemble:"):
        from mlcore.catalog import MODELS, entry_for_hub_id
        from mlcore.registry import ModelLoadError, ensemble_members_problem, resolve_spec

        def identity(member: str) -> str:  # two names of one model (registry name, hub id) are one member
            name = member.strip()
            if name in MODELS:
                return name
            if entry := entry_for_hub_id(name):
                return entry.name
            try:
                return resolve_spec(name).model_id
            except ModelLoadError:
                return name

        problem = ensemble_members_problem([identity(m) for m in members])
        if problem:
            raise ValidationError({"model": [problem[0].upper() + problem[1:] + "."]})
    return spec
