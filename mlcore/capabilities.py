"""Which caption styles and languages a model spec can write, WITHOUT loading the model.

For a web process that validates an upload / API request before queueing it (HTTP 400 instead of a
failed job). Loads no weights and never touches the network: the answer is the model catalogue's
(mlcore.catalog): the family of a registry name, or of the ``model_type`` in a folder's
``config.json`` (or the one in the local Hugging Face cache); ensembles and fallback chains are
computed from their members.

    from mlcore.capabilities import spec_capabilities, check_spec_style
    caps = spec_capabilities("blip-base")     # Capabilities(styles=frozenset({'alt'}), languages=frozenset({'en'}))
    check_spec_style("blip-base", GenerationParams(style="tags"))   # raises UnsupportedStyle

``styles`` / ``languages`` None mean "any registered style" / "any language". ``known`` is False
when the spec's architecture could not be determined offline (a hub id not in the cache): the
captioner checks again when it runs.
"""

from __future__ import annotations

from .catalog import Capabilities, spec_capabilities_of
from .params import GenerationParams
from .registry import resolve_spec
from .styles import UnsupportedStyle

__all__ = ["Capabilities", "spec_capabilities", "check_spec_style", "spec_refusals", "spec_uses_context"]


def spec_capabilities(spec: str | None) -> Capabilities:
    """Capabilities of ``spec`` (see the module docstring). ModelLoadError for an unusable spec."""
    return spec_capabilities_of(resolve_spec(spec))


def spec_refusals(spec: str | None, *, style: str | None = None, language: str | None = None
                  ) -> dict[str, UnsupportedStyle]:
    """{"style"/"language": UnsupportedStyle} for what ``spec`` certainly cannot write of ``style``
    and ``language`` (None: not asked), each judged on its own so that "tags in German" with BLIP
    names both, then the pair; {} when it can (or it is not decidable offline). One lookup of the
    spec for both (a request's check asks once). The values must be valid ones (a registered
    style, a BCP 47 tag). ModelLoadError for an unusable spec."""
    ms = resolve_spec(spec)  # ModelLoadError for an unusable spec
    caps = spec_capabilities_of(ms)
    asked = {name: value for name, value in (("style", style), ("language", language)) if value}
    found: dict[str, UnsupportedStyle] = {}
    for name, value in asked.items():
        params = GenerationParams(**{name: value})
        if caps.refusal(params) is not None:
            found[name] = _refusal(spec, ms, caps, params)
    if not found and len(asked) == 2:
        params = GenerationParams(**asked)
        if caps.refusal(params) is not None:
            refusal = _refusal(spec, ms, caps, params)
            found[refusal.field] = refusal
    return found


def _refusal(spec, ms, caps: Capabilities, params: GenerationParams) -> UnsupportedStyle:
    """Why ``spec`` cannot write params (as Capabilities.check says it; an ensemble's names its
    members that cannot). Only for params that caps refuses."""
    field_name, value = caps.refusal(params)
    reason = caps.reason
    if ms.kind == "ensemble":  # every member writes every caption: name the ones that cannot
        refusing = [m.name for m in ms.members if spec_capabilities_of(m).refusal(params) is not None]
        reason = (f"its member{'s' if len(refusing) > 1 else ''} {', '.join(refusing)} cannot; "
                  "every member of an ensemble captions every image")
    supported = caps.styles if field_name == "style" else caps.languages
    return UnsupportedStyle(str(spec), field_name, value, supported or frozenset(), reason=reason)


def check_spec_style(spec: str | None, params: GenerationParams) -> Capabilities:
    """Raise UnsupportedStyle when ``spec`` certainly cannot write params.style / params.language;
    return its Capabilities otherwise (``known`` False: not decidable offline, checked when captioning)."""
    ms = resolve_spec(spec)  # ModelLoadError for an unusable spec
    caps = spec_capabilities_of(ms)
    if caps.refusal(params) is not None:
        raise _refusal(spec, ms, caps, params)
    return caps


def spec_uses_context(spec: str | None) -> bool | None:
    """Whether ``spec`` writes from a free prompt, and so follows a request's context and purpose
    (mlcore.alttext): True for vision-language models and OpenAI-compatible engines, False for
    prompt-less captioners (BLIP, GIT, ViT-GPT2, the in-house model, Florence-2's task tokens),
    None when not decidable offline. The one place this question is answered."""
    from .errors import MLCoreError

    try:
        caps = spec_capabilities(spec)
    except MLCoreError:
        return None
    if not caps.known:
        return None
    return caps.styles is None
