"""Model names -> loaders, spec resolution, fetching, and the process-wide cache of captioners.

The cache is a bounded LRU: at most ``MLCORE_MAX_LOADED_MODELS`` (default 2) captioners stay
loaded per process; loading one more evicts the least recently used (its references are dropped,
``gc.collect()`` runs and, on CUDA, ``torch.cuda.empty_cache()``). Ensembles hold their members:
an ensemble entry does not count against the bound, its members do, and evicting a member
evicts the ensembles that hold it.
"""

from __future__ import annotations

import gc
import logging
import os
import re
import sys
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from . import catalog
from .config import get_config
from .errors import ModelLoadError
from .params import ModelSpec

logger = logging.getLogger(__name__)

__all__ = [
    "REGISTRY",
    "DEFAULT_MODEL",
    "DEFAULT_ITM_MODEL",
    "register_model",
    "resolve_spec",
    "load_captioner",
    "fetch_model",
    "clear_cache",
    "loaded_captioners",
    "INHOUSE_MARKER",
    "offered_models",
]

class _HubIds(Mapping):
    """registry name -> hub id, read live from the model catalogue (mlcore.catalog.MODELS);
    ``vlm_only``: the vision-language models (mlcore.predictors.vlm.VLMCaptioner)."""

    def __init__(self, vlm_only: bool = False):
        self._vlm_only = vlm_only

    def _names(self) -> list[str]:
        return [n for n, e in catalog.MODELS.items()
                if e.hub_id and (not self._vlm_only or e.family.predictor == "vlm")]

    def __getitem__(self, name: str) -> str:
        if name not in self._names():
            raise KeyError(name)
        return catalog.MODELS[name].hub_id  # type: ignore[return-value]

    def __iter__(self):
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def __repr__(self) -> str:
        return repr(dict(self))


#: short name -> hub id (a live view of the catalogue). Each can be overridden by a local folder
#: (see ``_override``).
REGISTRY: Mapping[str, str] = _HubIds()
#: vision-language models (mlcore.predictors.vlm.VLMCaptioner): short name -> hub id
VLM_REGISTRY: Mapping[str, str] = _HubIds(vlm_only=True)
DEFAULT_MODEL = catalog.DEFAULT_MODEL
DEFAULT_ITM_MODEL = "Salesforce/blip-itm-base-coco"
#: file that marks a folder as an in-house (ResNet-50 + Transformer decoder) checkpoint
INHOUSE_MARKER = catalog.INHOUSE_MARKER

_LOCAL_OVERRIDES: dict[str, str] = {}
_COMPOSITE = ("ensemble", "fallback")  # kinds whose members load their own ITM / grammar models
_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")

# key -> captioner, least recently used first; _MEMBER_KEYS: ensemble key -> its members' keys
_CACHE: OrderedDict[tuple, Any] = OrderedDict()
_MEMBER_KEYS: dict[tuple, tuple[tuple, ...]] = {}
_ITM_CACHE: dict[tuple, Any] = {}
_LOCK = threading.RLock()
_LOGGED_CHOICES: set[tuple] = set()


def register_model(name: str, source: str) -> None:
    """Add a short name, or point an existing one at a local folder / another hub id."""
    if not name or "," in name or ":" in name:
        raise ValueError(f"bad model name {name!r}")
    _LOCAL_OVERRIDES[name] = source


def _override(name: str) -> str | None:
    """A local folder (or id) that replaces registry entry ``name``, if any:
    register_model(), then $MLCORE_MODEL_<NAME> (e.g. MLCORE_MODEL_BLIP_BASE), then
    $MLCORE_MODELS_DIR/<name> when that folder exists (see mlcore.config; ``model_env_name``)."""
    if name in _LOCAL_OVERRIDES:
        return _LOCAL_OVERRIDES[name]
    cfg = get_config()
    env = cfg.model_override(name)
    if env:
        return env
    base = cfg.models_dir
    if base and os.path.isdir(os.path.join(base, name)):
        return os.path.join(base, name)
    return None


def _is_inhouse_dir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, INHOUSE_MARKER))


def _known() -> str:
    return ", ".join(sorted(set(catalog.MODELS) | set(_LOCAL_OVERRIDES)))


def offered_models() -> list[str]:
    """Registry names a person may pick: every catalogue entry with a hub id, and each local-only
    entry (``inhouse``) whose checkpoint folder exists ($MLCORE_MODEL_<NAME> or $MLCORE_MODELS_DIR/<name>)."""
    out = []
    for name, entry in catalog.MODELS.items():
        if entry.hub_id:
            out.append(name)
            continue
        folder = _override(name)
        if folder and os.path.isdir(folder) and (entry.family.predictor != "inhouse" or _is_inhouse_dir(folder)):
            out.append(name)
    return out


# An ensemble runs every member on every image: its cost is the sum of theirs. A member named twice
# only doubles the cost (the same model answers the same caption), and members beyond this many
# make one image cost more than a batch. Checked where a person names a model (the site's forms
# and API, captions.services.styles.model_spec_clean); code may still build any ensemble.
MAX_ENSEMBLE_MEMBERS = 4


def ensemble_members_problem(members: list[str]) -> str | None:
    """Why these ensemble members (names or model ids) are refused, or None."""
    seen: set[str] = set()
    for member in members:
        key = member.strip().lower()
        if key in seen:
            return f"the ensemble names {member.strip()!r} twice: each member once"
        seen.add(key)
    if len(members) > MAX_ENSEMBLE_MEMBERS:
        return f"an ensemble has at most {MAX_ENSEMBLE_MEMBERS} members ({len(members)} were named)"
    return None


def resolve_spec(spec: str | None) -> ModelSpec:
    """Resolve a spec string (registry name, hub id, local folder, 'ensemble:a,b[;pick=consensus]',
    'inhouse:/path', 'openai:http://host/v1#model', 'fallback:spec|spec|...') to a ModelSpec. Loads nothing; raises ModelLoadError for an unusable spec."""
    if spec is None or not str(spec).strip():
        spec = DEFAULT_MODEL
    original = str(spec)
    spec = original.strip()

    if spec.startswith("openai:"):
        from .predictors.openai_engine import parse_openai_spec

        url, model = parse_openai_spec(spec)
        return ModelSpec(name=original, model_id=f"openai:{url}#{model}", kind="openai")

    if spec.startswith("fallback:"):
        parts = [p.strip() for p in spec[len("fallback:") :].split("|") if p.strip()]
        if not parts:
            raise ModelLoadError("a fallback chain needs members: 'fallback:openai:http://h/v1#m|blip-base'", original)
        fb_members = []
        for p in parts:
            if p.startswith("fallback:"):
                raise ModelLoadError("fallback chains cannot be nested", original)
            fb_members.append(resolve_spec(p))
        return ModelSpec(name=original, model_id="fallback:" + "|".join(m.key for m in fb_members), kind="fallback",
                         members=tuple(fb_members))

    if spec.startswith("ensemble:"):
        body = spec[len("ensemble:") :]
        body, _, opts = body.partition(";")
        options: list[tuple[str, str]] = []
        for part in filter(None, (p.strip() for p in opts.split(";"))):
            k, _, v = part.partition("=")
            options.append((k.strip(), v.strip()))
        pick = dict(options).get("pick", "confidence")
        if pick not in ("confidence", "consensus"):
            raise ModelLoadError(f"ensemble pick must be 'confidence' or 'consensus', got {pick!r}", original)
        names = [n.strip() for n in body.split(",") if n.strip()]
        if len(names) < 1:
            raise ModelLoadError("an ensemble needs at least one member: 'ensemble:blip-base,git-base-coco'", original)
        members = []
        for n in names:
            m = resolve_spec(n)
            if m.kind == "ensemble":
                raise ModelLoadError("ensembles cannot be nested", original)
            members.append(m)
        return ModelSpec(
            name=original, model_id="ensemble:" + ",".join(m.model_id for m in members), kind="ensemble",
            members=tuple(members), options=tuple(sorted(options)),
        )

    if spec.startswith("inhouse:"):
        path = os.path.abspath(os.path.expanduser(spec[len("inhouse:") :].strip()))
        return ModelSpec(name=original, model_id=path, kind="inhouse", path=path)

    if spec in catalog.MODELS or spec in _LOCAL_OVERRIDES:
        override = _override(spec)
        if override:
            sub = resolve_spec(override)
            return ModelSpec(name=spec, model_id=sub.model_id, kind=sub.kind, path=sub.path)
        entry = catalog.MODELS[spec]
        if not entry.hub_id:
            from .config import model_env_name

            raise ModelLoadError(
                f"{spec!r} has no checkpoint here: point ${model_env_name(spec)} at its folder, or put it in "
                f"$MLCORE_MODELS_DIR/{spec}" + (" (train one with mlcore.training.train_inhouse)"
                                                if entry.family.predictor == "inhouse" else ""),
                original,
            )
        return ModelSpec(name=spec, model_id=entry.hub_id, kind=entry.family.predictor if
                         entry.family.predictor in ("inhouse", "openai") else "hf")

    expanded = os.path.expanduser(spec)
    if os.path.isdir(expanded):
        path = os.path.abspath(expanded)
        kind = "inhouse" if _is_inhouse_dir(path) else "hf"
        return ModelSpec(name=original, model_id=path, kind=kind, path=path)

    looks_like_path = spec.startswith(("/", ".", "~")) or os.sep in spec and not _HUB_ID_RE.match(spec)
    if looks_like_path:
        raise ModelLoadError(f"model folder {spec!r} does not exist", original)
    if _HUB_ID_RE.match(spec):
        return ModelSpec(name=original, model_id=spec, kind="hf")
    raise ModelLoadError(
        f"unknown model spec {spec!r}: use a registry name ({_known()}), a hub id (org/name), "
        "a local folder, 'ensemble:a,b' or 'inhouse:/path'",
        original,
    )


def _build(ms: ModelSpec, device: str | None, dtype: str | None, options: dict[str, Any]):
    if ms.kind == "hf":
        from .predictors.hf import HFCaptioner
        from .predictors.vlm import VLMCaptioner, is_vlm

        if is_vlm(ms.path or ms.model_id, ms.name, strict=True):
            return VLMCaptioner.from_pretrained(ms.path or ms.model_id, spec=ms.name, device=device, dtype=dtype,
                                                **options)

        return HFCaptioner.from_pretrained(ms.path or ms.model_id, spec=ms.name, device=device, dtype=dtype, **options)
    if ms.kind == "inhouse":
        from .predictors.custom import InHouseCaptioner

        if not os.path.isdir(ms.model_id) or not _is_inhouse_dir(ms.model_id):
            raise ModelLoadError(
                f"{ms.model_id!r} is not an in-house checkpoint folder (no {INHOUSE_MARKER}); "
                "train one with mlcore.training.train_inhouse",
                ms.name,
            )
        return InHouseCaptioner.from_checkpoint(ms.model_id, device=device, dtype=dtype, **options)
    if ms.kind == "openai":
        from .predictors.openai_engine import OpenAIEngine

        return OpenAIEngine.from_spec(ms.model_id, **options)
    if ms.kind == "fallback":
        from .predictors.fallback import FallbackCaptioner

        return FallbackCaptioner([m.name for m in ms.members], loader=load_captioner, device=device, dtype=dtype,
                                 load_options=options, spec=ms.name,
                                 capabilities=[catalog.spec_capabilities_of(m) for m in ms.members])
    raise ModelLoadError(f"unknown model kind {ms.kind!r}", ms.name)


def load_captioner(
    spec: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    **options: Any,
):
    """Load (at most once while it stays cached) and return the Captioner for ``spec``.

    Cached by (resolved spec, device, dtype, options): a second call returns the same object as
    long as it was not evicted from the bounded LRU cache (``MLCORE_MAX_LOADED_MODELS``, default
    2; see the module docstring). ``device``: None/'auto' (``MLCORE_DEVICE``, else CUDA when
    available), 'cpu', 'cuda', 'cuda:1'. ``dtype``: None/'auto' (``MLCORE_DTYPE``, else bf16 on
    CUDA and on CPUs with AMX/AVX512-BF16, fp32 elsewhere; ``hfutils.choose_auto_dtype``),
    'float32' (exact fp32), 'bfloat16', 'float16', 'int8' (CPU). The resolved dtype and why are
    on the captioner: ``captioner.dtype_name``, ``captioner.dtype_reason``, ``captioner.info()``.
    ``options`` go to the predictor: ``itm`` (an ITM model spec, or True for the default
    Salesforce/blip-itm-base-coco), ``confidence_config``, ``max_batch_size``, ``rules``,
    ``grammar`` (a text2text model spec or a GrammarCorrector; default ``MLCORE_GRAMMAR_MODEL``, else off).
    Raises ModelLoadError (``.reason`` and ``.spec``; no host-specific advice) when the model
    cannot be loaded.
    """
    return _load(spec, device, dtype, options, protect=set())


def _load(spec, device, dtype, options: dict[str, Any], protect: set[tuple]):
    from .hfutils import resolve_device, resolve_dtype_with_reason

    cfg = get_config()
    ms = resolve_spec(spec)
    device = device if device not in (None, "") else cfg.device
    dtype = dtype if dtype not in (None, "") else cfg.dtype
    try:
        dev = resolve_device(device)
        dt, dt_reason = resolve_dtype_with_reason(dtype, dev)
    except ValueError as exc:
        raise ModelLoadError(str(exc), ms.name) from exc
    options = dict(options)
    if options.get("itm") is None and cfg.itm_model:
        options["itm"] = cfg.itm_model
    if options.get("grammar") is None and cfg.grammar_model:
        options["grammar"] = cfg.grammar_model
    key = (ms.key, dev, dt, tuple(sorted((k, repr(v)) for k, v in options.items())))
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _touch(key)
            return hit
        if ms.kind == "ensemble":
            from .predictors.ensemble import EnsembleCaptioner

            member_keys: list[tuple] = []
            members = []
            for m in ms.members:
                # the unresolved dtype: a member's dtype_reason says "auto: ..." when it was chosen so
                member = _load(m.name, device, dtype, options, protect | set(member_keys))
                members.append(member)
                member_keys.append(_key_of(member))
            captioner = EnsembleCaptioner(members, pick=ms.option("pick", "confidence"), spec=ms)
            captioner.dtype_reason = members[0].dtype_reason
            _CACHE[key] = captioner
            _MEMBER_KEYS[key] = tuple(member_keys)
            return captioner
        opts = dict(options)
        if isinstance(opts.get("grammar"), str) and ms.kind not in _COMPOSITE:
            from .postprocess import GrammarCorrector

            opts["grammar"] = GrammarCorrector(opts["grammar"], device=dev)
        itm = opts.pop("itm", None)
        if itm and ms.kind not in _COMPOSITE:
            itm_source = DEFAULT_ITM_MODEL if itm is True else str(itm)
            if not isinstance(itm, (str, bool)):
                opts["itm"] = itm  # an ITMScorer instance
            else:
                opts["itm"] = _load_itm(itm_source, dev, dt)
        elif itm and ms.kind in _COMPOSITE:
            opts["itm"] = itm
        try:
            captioner = _build(ms, dev, dt, opts)
        except (ModelLoadError, SyntaxError):
            raise
        except Exception as exc:  # noqa: BLE001 - anything else while loading is a load error
            raise ModelLoadError(f"could not load {ms.model_id!r}: {type(exc).__name__}: {exc}", ms.name) from exc
        captioner.dtype_reason = dt_reason
        captioner._cache_key = key
        _log_choice_once(captioner)
        _CACHE[key] = captioner
        _evict_over_bound(cfg.max_loaded_models, protect | {key})
        return captioner


def _key_of(captioner) -> tuple:
    return getattr(captioner, "_cache_key", None) or next(k for k, v in _CACHE.items() if v is captioner)


def _touch(key: tuple) -> None:
    """Mark ``key`` (and an ensemble's members) most recently used."""
    for member in _MEMBER_KEYS.get(key, ()):
        if member in _CACHE:
            _CACHE.move_to_end(member)
    _CACHE.move_to_end(key)


def _evict_over_bound(bound: int, protect: set[tuple]) -> None:
    """Evict least recently used single models (not ensembles, not ``protect``) beyond ``bound``."""
    evicted = []
    while sum(1 for k in _CACHE if k not in _MEMBER_KEYS) > bound:
        victim = next((k for k in _CACHE if k not in _MEMBER_KEYS and k not in protect), None)
        if victim is None:
            break  # everything left is in use by the load in progress (a large ensemble)
        evicted.append(_CACHE.pop(victim))
        for ens in [e for e, members in _MEMBER_KEYS.items() if victim in members]:
            _MEMBER_KEYS.pop(ens, None)
            evicted.append(_CACHE.pop(ens, None))
    if evicted:
        on_cuda = any(str(getattr(c, "device", "")).startswith("cuda") for c in evicted if c is not None)
        names = [getattr(c, "model_id", "?") for c in evicted if c is not None]
        del evicted
        _free_memory(on_cuda)
        logger.info("Evicted caption model(s) %s (MLCORE_MAX_LOADED_MODELS=%d)", ", ".join(names), bound)


def _free_memory(on_cuda: bool) -> None:
    gc.collect()
    torch = sys.modules.get("torch")
    if on_cuda and torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _log_choice_once(captioner) -> None:
    """'caption model X on cpu in bfloat16 (auto: CPU has AVX512-BF16)', once per process per choice."""
    choice = (captioner.model_id, captioner.device, captioner.dtype)
    if choice in _LOGGED_CHOICES:
        return
    _LOGGED_CHOICES.add(choice)
    logger.info(
        "caption model %s on %s in %s (%s)",
        captioner.model_id, captioner.device, captioner.dtype, getattr(captioner, "dtype_reason", "explicit"),
    )


def _load_itm(source: str, device: str, dtype: str):
    from .predictors.hf import ITMScorer

    key = ("itm", source, device, dtype)
    if key not in _ITM_CACHE:
        _ITM_CACHE[key] = ITMScorer.from_pretrained(resolve_spec(source).model_id, device=device, dtype=dtype)
    return _ITM_CACHE[key]


def clear_cache() -> None:
    """Forget every loaded captioner and ITM scorer (tests; freeing memory)."""
    with _LOCK:
        on_cuda = any(str(getattr(c, "device", "")).startswith("cuda") for c in _CACHE.values())
        _CACHE.clear()
        _MEMBER_KEYS.clear()
        _ITM_CACHE.clear()
    _free_memory(on_cuda)


def loaded_captioners() -> list:
    """The captioners the cache holds now, least recently used first (ensembles included)."""
    with _LOCK:
        return list(_CACHE.values())


def fetch_model(spec: str, cache_dir: str | None = None) -> str:
    """Download ``spec``'s files into the HF cache (on a connected machine) and return the local path.

    For an ensemble, fetches every member and returns their paths joined with os.pathsep.
    Local folders are returned as they are. Raises ModelLoadError with a clear message offline.
    """
    ms = resolve_spec(spec)
    if ms.kind == "openai":
        return ms.model_id  # a remote server: nothing to download
    if ms.kind in ("ensemble", "fallback"):
        return os.pathsep.join(fetch_model(m.path or m.model_id, cache_dir) for m in ms.members)
    if ms.path:
        return ms.path
    from huggingface_hub import snapshot_download

    from .hfutils import is_offline

    if is_offline():
        raise ModelLoadError(
            f"cannot fetch {ms.model_id!r}: HF_HUB_OFFLINE is set; fetch it on a machine with network "
            "access (HF_HUB_OFFLINE unset there) and copy the Hugging Face cache over",
            ms.name,
        )
    ignore = ["*.h5", "*.msgpack", "*.onnx", "*.onnx_data", "*.tflite", "*.ot", "*.mlmodel", "coreml/*", "onnx/*"]
    kw: dict[str, Any] = {"cache_dir": cache_dir or get_config().hf_cache or None}
    try:
        from huggingface_hub import HfApi

        files = HfApi().list_repo_files(ms.model_id)
        if any(f.endswith(".safetensors") for f in files):
            ignore += ["*.bin", "*.pt", "*.pth"]
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(
            f"cannot fetch {ms.model_id!r}: the Hugging Face hub is unreachable or the id is wrong "
            f"({type(exc).__name__}: {str(exc)[:200]}); fetch it on a machine with network access",
            ms.name,
        ) from exc
    try:
        return snapshot_download(ms.model_id, ignore_patterns=ignore, **kw)
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(f"download of {ms.model_id!r} failed: {type(exc).__name__}: {exc}", ms.name) from exc
