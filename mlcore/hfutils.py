"""Helpers around transformers / huggingface_hub: offline mode, devices, dtypes, versions."""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Iterator

__all__ = [
    "is_offline",
    "hub_kwargs",
    "resolve_device",
    "resolve_dtype",
    "folder_fingerprint",
    "snapshot_commit",
    "quiet_transformers",
]

_TRUE = {"1", "true", "yes", "on"}


def is_offline() -> bool:
    """HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE, read at call time (not import time)."""
    return any(os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def hub_kwargs(local_files_only: bool | None = None) -> dict:
    kw: dict = {}
    if local_files_only if local_files_only is not None else is_offline():
        kw["local_files_only"] = True
    cache = os.environ.get("MLCORE_HF_CACHE")
    if cache:
        kw["cache_dir"] = cache
    return kw


def resolve_device(device: str | None) -> str:
    import torch

    if device in (None, "", "auto"):
        if torch.cuda.is_available():
            return "cuda"
        return "cpu"
    device = str(device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return device


_DTYPE_ALIASES = {
    "fp32": "float32",
    "float32": "float32",
    "float": "float32",
    "fp16": "float16",
    "float16": "float16",
    "half": "float16",
    "bf16": "bfloat16",
    "bfloat16": "bfloat16",
    "int8": "int8",  # CPU dynamic quantisation of the Linear layers
    "qint8": "int8",
}


def resolve_dtype(dtype: str | None, device: str) -> str:
    """'auto'/None -> bfloat16 on CUDA when supported (else float16), float32 on CPU."""
    import torch

    if dtype in (None, "", "auto"):
        if device.startswith("cuda"):
            return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        return "float32"
    name = _DTYPE_ALIASES.get(str(dtype).lower())
    if name is None:
        raise ValueError(f"unknown dtype {dtype!r}; use one of float32, bfloat16, float16, int8 or auto")
    if name == "int8" and not device.startswith("cpu"):
        raise ValueError("dtype int8 (dynamic quantisation) is only available on CPU")
    return name


def torch_dtype(name: str):
    import torch

    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "int8": torch.float32}[
        name
    ]


def snapshot_commit(path: str | os.PathLike) -> str | None:
    """The hub commit hash when ``path`` is inside an HF cache snapshot (.../snapshots/<sha>/...)."""
    parts = Path(path).resolve().parts
    for i, part in enumerate(parts[:-1]):
        if part == "snapshots" and i + 1 < len(parts):
            cand = parts[i + 1]
            if len(cand) >= 7 and all(c in "0123456789abcdef" for c in cand.lower()):
                return cand
    return None


_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".json", ".txt", ".model")
_PROBE = 1 << 20  # bytes read at each end of a weights file


def folder_fingerprint(folder: str | os.PathLike, length: int = 12) -> str:
    """Stable, cheap version of a model folder: names, sizes and the first/last MiB of each file.

    Copying the folder elsewhere keeps the version; re-saving different weights changes it.
    """
    folder = Path(folder)
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or not p.name.endswith(_WEIGHT_SUFFIXES):
            continue
        rel = p.relative_to(folder).as_posix()
        if rel.startswith(".") or "/." in rel:
            continue
        size = p.stat().st_size
        h.update(f"{rel}\0{size}\0".encode())
        with open(p, "rb") as fh:
            h.update(fh.read(_PROBE))
            if size > 2 * _PROBE:
                fh.seek(size - _PROBE)
                h.update(fh.read(_PROBE))
    return h.hexdigest()[:length]


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' progress bars and info chatter while loading (restored afterwards)."""
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    level = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def cpu_supports_bf16() -> bool:
    """True when the CPU has native bf16 matrix instructions (AVX512-BF16 or AMX), where a
    bfloat16 model runs markedly faster than float32 (Linux: read from /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool({"avx512_bf16", "amx_bf16"} & flags)
    except OSError:
        pass
    return False
