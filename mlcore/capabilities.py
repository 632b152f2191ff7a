"""Which caption styles and languages a model spec can write, WITHOUT loading the model.

For a web process that validates an upload / API request before queueing it (HTTP 400 instead of a
failed job). Loads no weights and never touches the network: it reads a folder's ``config.json``, or
the one in the local Hugging Face cache, or knows the registry names.

    from mlcore.capabilities import spec_capabilities, check_spec_style
    caps = spec_capabilities("blip-base")     # Capabilities(styles=frozenset({'alt'}), languages=frozenset({'en'}))
    check_spec_style("blip-base", GenerationParams(style="tags"))   # raises UnsupportedStyle

``styles`` / ``languages`` None mean "any registered style" / "any language". ``known`` is False
when the spec's architecture could not be determined offline (a hub id not in the cache): the
captioner checks again when it runs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from .params import GenerationParams
from .styles import STYLES, UnsupportedStyle, get_style

__all__ = ["Capabilities", "spec_capabilities", "check_spec_style", "spec_refusals"]

_PROMPTLESS = ("blip", "blip-2", "git", "vision-encoder-decoder")
#: model_type of the registry's hub ids, so that names are known before their files are fetched
_HUB_MODEL_TYPES = {
    "Salesforce/blip-image-captioning-base": "blip",
    "Salesforce/blip-image-captioning-large": "blip",
    "Salesforce/blip2-opt-2.7b": "blip-2",
    "microsoft/git-base-coco": "git",
    "microsoft/git-large-coco": "git",
    "nlpconnect/vit-gpt2-image-captioning": "vision-encoder-decoder",
    "HuggingFaceTB/SmolVLM-256M-Instruct": "idefics3",
    "HuggingFaceTB/SmolVLM-500M-Instruct": "idefics3",
    "florence-community/Florence-2-base": "florence2",
    "florence-community/Florence-2-large": "florence2",
    "Qwen/Qwen2-VL-2B-Instruct": "qwen2_vl",
    "Qwen/Qwen2.5-VL-3B-Instruct": "qwen2_5_vl",
    "Qwen/Qwen2.5-VL-7B-Instruct": "qwen2_5_vl",
    "Qwen/Qwen3-VL-2B-Instruct": "qwen3_vl",
    "llava-hf/llava-1.5-7b-hf": "llava",
    "llava-hf/llava-v1.6-mistral-7b-hf": "llava_next",
    "google/paligemma-3b-mix-224": "paligemma",
    "google/gemma-3-4b-it": "gemma3",
}


@dataclass(frozen=True)
class Capabilities:
    styles: frozenset[str] | None  # None: every registered style
    languages: frozenset[str] | None  # primary language subtags; None: any
    known: bool = True

    def allows(self, params: GenerationParams) -> tuple[bool, str]:
        """(True, "") or (False, 'style'|'language')."""
        style = get_style(params.style)
        if self.styles is not None and style.name not in self.styles:
            return False, "style"
        if self.languages is not None and params.language.split("-")[0] not in self.languages:
            return False, "language"
        return True, ""


_ANY = Capabilities(None, None)
_ALT_EN = Capabilities(frozenset({"alt"}), frozenset({"en"}))
_UNKNOWN = Capabilities(None, None, known=False)


def _florence() -> Capabilities:
    return Capabilities(frozenset(n for n, s in STYLES.items() if n == "alt" or s.kind == "paragraph"),
                        frozenset({"en"}))


def _from_model_type(model_type: str | None) -> Capabilities:
    # pure module constants; torch is imported lazily there
    from .predictors.vlm import VLM_ARCHITECTURES

    if model_type in _PROMPTLESS:
        return _ALT_EN
    if model_type == "florence2":
        return _florence()
    if model_type in VLM_ARCHITECTURES:
        return _ANY
    return _UNKNOWN


def _model_type_of(source: str) -> str | None:
    path = os.path.join(source, "config.json") if os.path.isdir(source) else None
    if path is None:
        try:
            from huggingface_hub import try_to_load_from_cache

            from .config import get_config

            cache_dir = get_config().hf_cache
            found = try_to_load_from_cache(source, "config.json", cache_dir=cache_dir)
            path = found if isinstance(found, str) else None
        except Exception:  # noqa: BLE001 - not in the cache, or not a valid repo id
            path = None
    if not path or not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            config = json.load(fh)
    except (OSError, ValueError):
        return None
    # a config that is not an object, or a model_type that is not a name: not known (never a crash)
    model_type = config.get("model_type") if isinstance(config, dict) else None
    return model_type if isinstance(model_type, str) else None


def spec_capabilities(spec: str | None) -> Capabilities:
    """Capabilities of ``spec`` (see the module docstring). ModelLoadError for an unusable spec."""
    from .registry import resolve_spec

    ms = resolve_spec(spec)
    return _of(ms)


def _of(ms) -> Capabilities:
    if ms.kind == "openai":
        return _ANY
    if ms.kind == "inhouse":
        return _ALT_EN
    if ms.kind in ("ensemble", "fallback"):
        caps = [_of(m) for m in ms.members]
        known = all(c.known for c in caps)
        if ms.kind == "fallback":  # any member may caption: the union
            styles = None if any(c.styles is None for c in caps) else frozenset().union(*(c.styles for c in caps))
            langs = None if any(c.languages is None for c in caps) else frozenset().union(
                *(c.languages for c in caps))
        else:  # every member captions every image: the intersection
            given = [c.styles for c in caps if c.styles is not None]
            styles = frozenset.intersection(*given) if given else None
            given_l = [c.languages for c in caps if c.languages is not None]
            langs = frozenset.intersection(*given_l) if given_l else None
        return Capabilities(styles, langs, known)
    source = ms.path or ms.model_id
    return _from_model_type(_model_type_of(source) or _HUB_MODEL_TYPES.get(source))


def spec_refusals(spec: str | None, *, style: str | None = None, language: str | None = None
                  ) -> dict[str, UnsupportedStyle]:
    """{"style"/"language": UnsupportedStyle} for what ``spec`` certainly cannot write of ``style``
    and ``language`` (None: not asked), each judged on its own so that "tags in German" with BLIP
    names both, then the pair; {} when it can (or it is not decidable offline). The values must be
    valid ones (a registered style, a BCP 47 tag). ModelLoadError for an unusable spec."""
    from .registry import resolve_spec

    ms = resolve_spec(spec)  # ModelLoadError for an unusable spec
    caps = _of(ms)
    asked = {name: value for name, value in (("style", style), ("language", language)) if value}
    found: dict[str, UnsupportedStyle] = {}
    for name, value in asked.items():
        params = GenerationParams(**{name: value})
        if not caps.allows(params)[0]:
            found[name] = _refusal(spec, ms, caps, params, name)
    if not found and len(asked) == 2:
        params = GenerationParams(**asked)
        ok, name = caps.allows(params)
        if not ok:
            found[name] = _refusal(spec, ms, caps, params, name)
    return found


def _refusal(spec, ms, caps: Capabilities, params: GenerationParams, field_name: str) -> UnsupportedStyle:
    value = params.style if field_name == "style" else params.language
    supported = caps.styles if field_name == "style" else caps.languages
    reason = "it takes no prompt"
    if ms.kind == "ensemble":  # every member writes every caption: name the ones that cannot
        refusing = [m.name for m in ms.members if not _of(m).allows(params)[0]]
        reason = (f"its member{'s' if len(refusing) > 1 else ''} {', '.join(refusing)} cannot; "
                  "every member of an ensemble captions every image")
    return UnsupportedStyle(str(spec), field_name, value, supported or frozenset(), reason=reason)


def check_spec_style(spec: str | None, params: GenerationParams) -> Capabilities:
    """Raise UnsupportedStyle when ``spec`` certainly cannot write params.style / params.language;
    return its Capabilities otherwise (``known`` False: not decidable offline, checked when captioning)."""
    from .registry import resolve_spec

    ms = resolve_spec(spec)  # ModelLoadError for an unusable spec
    caps = _of(ms)
    ok, field_name = caps.allows(params)
    if not ok:
        raise _refusal(spec, ms, caps, params, field_name)
    return caps
