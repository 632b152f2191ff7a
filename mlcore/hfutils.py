"""Helpers around transformers / huggingface_hub: offline mode, devices, dtypes, versions."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from .config import get_config

__all__ = [
    "is_offline",
    "hub_kwargs",
    "resolve_device",
    "resolve_dtype",
    "folder_fingerprint",
    "snapshot_commit",
    "quiet_transformers",
    "cpu_supports_bf16",
    "cpu_flags",
    "choose_auto_dtype",
    "resolve_dtype_with_reason",
    "non_word_token_ids",
]

#: vocabulary entries that are markers, not words: [unused12], [UNK], [MASK], [CLS], [SEP], [PAD],
#: [DEC], <unk>, <s>, </s>, <pad>, <mask>, <image>, <|endoftext|>, <extra_id_0>, <unused3>, ...
NON_WORD_TOKEN_RE = re.compile(r"^(?:\[[A-Za-z_]+\d*\]|<\|?/?[A-Za-z_]+\d*\|?>)$")

def is_offline() -> bool:
    """HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE, from mlcore's config (``mlcore.config.get_config``)."""
    return get_config().offline


def hub_kwargs(local_files_only: bool | None = None) -> dict:
    kw: dict = {}
    if local_files_only if local_files_only is not None else is_offline():
        kw["local_files_only"] = True
    cache = get_config().hf_cache
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


def choose_auto_dtype(device: str, *, cuda_bf16: bool = False, cpu_flag_set: set[str] | frozenset[str] = frozenset()
                      ) -> tuple[str, str]:
    """What "auto" means on this machine: (dtype name, plain-words reason). Pure: the hardware
    facts are parameters (``cuda_bf16``: torch.cuda.is_bf16_supported(); ``cpu_flag_set``: the
    CPU's flags as /proc/cpuinfo lists them), so every case is testable without the hardware.

    - CUDA: bfloat16 when the GPU supports it, else float16.
    - CPU with native bf16 instructions (``amx_bf16`` tiles or ``avx512_bf16`` dot products, as
      /proc/cpuinfo names them): bfloat16, about 2x faster than float32 there (BLIP-base 0.81 ->
      1.65 img/s on a 2-core AVX512-BF16 CPU without AMX); captions can drift slightly from float32
      (check with an evaluation both ways). The reason names the flag found and says when AMX is
      absent, so a dashboard never claims AMX on a CPU that only has AVX512-BF16.
    - any other CPU (or another device): float32, since emulated bf16 is slower than float32.
    """
    if device.startswith("cuda"):
        if cuda_bf16:
            return "bfloat16", "auto: CUDA with bf16 support"
        return "float16", "auto: CUDA without bf16 support"
    if device.startswith("cpu"):
        if "amx_bf16" in cpu_flag_set:
            return "bfloat16", "auto: CPU has AMX-BF16 (amx_bf16)"
        if "avx512_bf16" in cpu_flag_set:
            return "bfloat16", "auto: CPU has AVX512-BF16 (avx512_bf16; no AMX)"
        return "float32", "auto: CPU without native bf16 instructions"
    return "float32", f"auto: float32 on {device}"


def resolve_dtype_with_reason(dtype: str | None, device: str) -> tuple[str, str]:
    """(dtype name, why): ``dtype`` None/''/'auto' uses ``choose_auto_dtype`` with this
    machine's facts; an explicit name (float32, fp32, bfloat16, bf16, float16, int8, ...) is kept
    exactly ("float32" stays float32 whatever the hardware). ValueError for an unknown name or
    int8 off the CPU."""
    if dtype in (None, "", "auto"):
        cuda_bf16 = False
        if device.startswith("cuda"):
            import torch

            cuda_bf16 = bool(torch.cuda.is_bf16_supported())
        return choose_auto_dtype(device, cuda_bf16=cuda_bf16, cpu_flag_set=cpu_flags())
    name = _DTYPE_ALIASES.get(str(dtype).lower())
    if name is None:
        raise ValueError(f"unknown dtype {dtype!r}; use one of float32, bfloat16, float16, int8 or auto")
    if name == "int8" and not device.startswith("cpu"):
        raise ValueError("dtype int8 (dynamic quantisation) is only available on CPU")
    return name, "explicit"


def resolve_dtype(dtype: str | None, device: str) -> str:
    """'auto'/None -> see ``choose_auto_dtype``; explicit names are kept (aliases normalised)."""
    return resolve_dtype_with_reason(dtype, device)[0]


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


_CPU_FLAGS: frozenset[str] | None = None


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo; empty elsewhere), read once per process."""
    global _CPU_FLAGS
    if _CPU_FLAGS is None:
        flags: frozenset[str] = frozenset()
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as fh:
                for line in fh:
                    if line.startswith("flags"):
                        flags = frozenset(line.split(":", 1)[1].split())
                        break
        except OSError:
            pass
        _CPU_FLAGS = flags
    return _CPU_FLAGS


def cpu_supports_bf16(flags: set[str] | frozenset[str] | None = None) -> bool:
    """True when the CPU has native bf16 matrix instructions (AVX512-BF16 or AMX), where a
    bfloat16 model runs markedly faster than float32 (Linux: read from /proc/cpuinfo)."""
    flags = cpu_flags() if flags is None else flags
    return bool({"avx512_bf16", "amx_bf16"} & set(flags))


def non_word_token_ids(tokenizer, keep: Iterable[int] = ()) -> list[int]:
    """Ids of the tokenizer's vocabulary entries that must never be generated inside a caption:
    every special token, every added token marked special, and every entry that looks like a
    marker (``NON_WORD_TOKEN_RE``: [unusedN], [UNK], <unk>, <image>, ...), except ``keep`` (the
    ids generation needs: the end-of-sequence ids, and bos / pad). Sorted, computed from the
    vocabulary (call it once per loaded model: a BERT vocabulary has ~1,000 such entries)."""
    keep_ids = {int(k) for k in keep if k is not None}
    banned: set[int] = set()
    vocab = tokenizer.get_vocab()
    for token, idx in vocab.items():
        if NON_WORD_TOKEN_RE.match(token):
            banned.add(int(idx))
    banned.update(int(i) for i in (getattr(tokenizer, "all_special_ids", None) or []) if i is not None)
    for idx, added in (getattr(tokenizer, "added_tokens_decoder", None) or {}).items():
        content = getattr(added, "content", str(added))
        if getattr(added, "special", False) or NON_WORD_TOKEN_RE.match(content):
            banned.add(int(idx))
    return sorted(banned - keep_ids)
