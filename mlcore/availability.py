"""Whether a model spec can run on this machine, WITHOUT loading it: its files are in a local
folder or the Hugging Face cache (registry names, hub ids, in-house checkpoints), or, for an
OpenAI-compatible engine, its server answered a health check (GET <base>/models, cached for
``ENGINE_CHECK_SECONDS``). Ensembles need every member, fallback chains one.

    from mlcore.availability import spec_installed
    spec_installed("smolvlm-256m")   # (False, "smolvlm-256m is not installed: ...")
"""

from __future__ import annotations

import os
import threading
import time
import urllib.request

from .errors import MLCoreError

__all__ = ["spec_installed", "ENGINE_CHECK_SECONDS"]

ENGINE_CHECK_SECONDS = 60.0
_engine_checks: dict[str, tuple[float, bool, str]] = {}
_lock = threading.Lock()


def _files_present(ms) -> tuple[bool, str]:
    if ms.path:
        if os.path.isdir(ms.path) or os.path.isfile(ms.path):
            return True, ""
        return False, f"{ms.name} is not installed: its folder {ms.path} does not exist"
    try:
        from huggingface_hub import try_to_load_from_cache

        from .config import get_config

        found = try_to_load_from_cache(ms.model_id, "config.json", cache_dir=get_config().hf_cache)
    except Exception:  # noqa: BLE001 - an id the hub library cannot even parse: not installed
        found = None
    if isinstance(found, str) and os.path.isfile(found):
        return True, ""
    return False, (f"{ms.name} is not installed: {ms.model_id} is not in the model cache or a models folder "
                   f"(fetch it with `manage.py model_fetch {ms.name}`, or set MLCORE_MODELS_DIR)")


def _engine_answers(ms) -> tuple[bool, str]:
    from .predictors.openai_engine import parse_openai_spec

    url, _model = parse_openai_spec(ms.name.strip())
    now = time.monotonic()
    with _lock:
        known = _engine_checks.get(url)
    if known and now - known[0] < ENGINE_CHECK_SECONDS:
        return known[1], known[2]
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/models", timeout=2) as answer:
            ok, why = 200 <= answer.status < 300, ""
    except Exception as error:  # noqa: BLE001 - refused, timed out, an HTTP error: it did not answer
        ok, why = False, f"the engine {url} did not answer its health check ({error})"
    with _lock:
        _engine_checks[url] = (now, ok, why)
    return ok, why


def spec_installed(spec: str | None) -> tuple[bool, str]:
    """(True, "") when `spec` can run here, else (False, why, naming the model)."""
    from .registry import resolve_spec

    try:
        ms = resolve_spec(spec)
    except MLCoreError as error:
        return False, str(error)
    return _of(ms)


def _of(ms) -> tuple[bool, str]:
    if ms.kind == "openai":
        return _engine_answers(ms)
    if ms.kind in ("ensemble", "fallback"):
        verdicts = [_of(member) for member in ms.members]
        if ms.kind == "ensemble":
            missing = [why for ok, why in verdicts if not ok]
            return (not missing), "; ".join(missing)
        if any(ok for ok, _ in verdicts):
            return True, ""
        return False, "; ".join(why for _, why in verdicts)
    return _files_present(ms)
