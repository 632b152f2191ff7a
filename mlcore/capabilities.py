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

__all__ = ["Capabilities", "spec_capabilities", "check_spec_style", "spec_uses_context"]


def spec_capabilities(spec: str | None) -> Capabilities:
    """Capabilities of ``spec`` (see the module docstring). ModelLoadError for an unusable spec."""
    return spec_capabilities_of(resolve_spec(spec))


def check_spec_style(spec: str | None, params: GenerationParams) -> Capabilities:
    """Raise UnsupportedStyle when ``spec`` certainly cannot write params.style / params.language;
    return its Capabilities otherwise (``known`` False: not decidable offline, checked when captioning)."""
    ms = resolve_spec(spec)  # ModelLoadError for an unusable spec
    caps = spec_capabilities_of(ms)
    if caps.refusal(params) is None:
        return caps
    reason = None
    if ms.kind == "ensemble":  # every member writes every caption: name the ones that cannot
        refusing = [m.name for m in ms.members if spec_capabilities_of(m).refusal(params) is not None]
        reason = (f"its member{'s' if len(refusing) > 1 else ''} {', '.join(refusing)} cannot; "
                  "every member of an ensemble captions every image")
    caps.check(params, str(spec), reason=reason)
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
