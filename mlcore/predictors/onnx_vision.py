"""The vision encoder of a BLIP captioner on ONNX Runtime with int8 weights (VNNI on x86 CPUs).

The ViT vision encoder is most of a BLIP caption's compute (ViT-B/16 at 384 px: about 83 % of
the FLOPs per image). On a CPU with AVX512-VNNI (or AVX-VNNI) ONNX Runtime's dynamically quantised
int8 matrix products are faster than torch's bf16 ones; the text decoder stays in torch (its
beam search, caching and scores are transformers').

How it is used: ``attach(captioner)`` exports the fp32 vision encoder to ONNX once per model
version into the model cache (``<cache>/captionsite-onnx/<model version>/vision-int8.onnx``),
quantises its weights to int8 (activations quantised per call), checks the int8 encoder against
the torch fp32 encoder on photo-like inputs (``FIDELITY_MIN_COSINE``) and only then swaps it in
as ``model.vision_model``. Whatever fails (onnxruntime missing, export error, fidelity below the
threshold) leaves the torch encoder in place and says why in ``captioner.vision_engine_reason``.

Lossy, so opt-in (``MLCORE_VISION_ENGINE=auto`` or ``onnx-int8``; the default is ``torch``): on
published BLIP-base shapes with random weights it keeps the encoder and decoder cosines above 0.999
but fails the greedy token-agreement mark (docs/performance.md, ``benchmarks.fidelity``).
``FIDELITY_MIN_COSINE`` is the load-time gate.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import torch

from ..config import get_config
from ..hfutils import cpu_flags

__all__ = ["FIDELITY_MIN_COSINE", "ENGINES", "attach", "choose_engine", "cache_folder", "vnni_reason"]

logger = logging.getLogger(__name__)

#: the int8 encoder must give, per image, at least this cosine similarity with the fp32 encoder's
#: output (flattened image tokens) on the check inputs, or the torch encoder stays
FIDELITY_MIN_COSINE = 0.99
ENGINES = ("auto", "torch", "onnx-int8")
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
_export_lock = threading.Lock()


def vnni_reason(flags: set[str] | frozenset[str] | None = None) -> str | None:
    """The CPU flag that makes int8 matrix products fast here (as /proc/cpuinfo names it), or None."""
    flags = cpu_flags() if flags is None else flags
    return next((flag for flag in VNNI_FLAGS if flag in flags), None)


def choose_engine(requested: str | None, *, arch: str, device: str,
                  flags: set[str] | frozenset[str] | None = None, have_onnxruntime: bool | None = None
                  ) -> tuple[str, str]:
    """(engine, reason) for the vision encoder. ``auto``: onnx-int8 for BLIP on a CPU with VNNI
    where onnxruntime is installed, torch otherwise. An explicit ``onnx-int8`` where it cannot run
    falls back to torch with the reason. Pure given its arguments."""
    requested = (requested or "auto").strip().lower()
    if requested not in ENGINES:
        raise ValueError(f"unknown vision engine {requested!r}; use one of {', '.join(ENGINES)}")
    if requested == "torch":
        return "torch", "explicit"
    if have_onnxruntime is None:
        import importlib.util

        have_onnxruntime = importlib.util.find_spec("onnxruntime") is not None
    why_not = None
    if arch != "blip":
        why_not = f"int8 vision encoder is built for BLIP only, not {arch}"
    elif not device.startswith("cpu"):
        why_not = f"int8 vision encoder runs on the CPU, not {device}"
    elif not have_onnxruntime:
        why_not = "onnxruntime is not installed"
    if why_not:
        return "torch", f"{requested}: {why_not}"
    flag = vnni_reason(flags)
    if flag is None:
        if requested == "auto":
            return "torch", "auto: CPU without VNNI int8 instructions (avx512_vnni, avx_vnni)"
        return "onnx-int8", "explicit: onnxruntime int8 (this CPU has no VNNI: expect it to be slower than bf16)"
    return "onnx-int8", f"{requested}: CPU has {flag} (int8 dot products), onnxruntime int8"


def cache_folder(model_version: str) -> str:
    """Where the exported encoders of one model version live."""
    base = get_config().hf_cache
    if not base:
        from huggingface_hub import constants

        base = constants.HF_HUB_CACHE
    return os.path.join(base, "captionsite-onnx", model_version or "unknown")


class OrtVisionModel(torch.nn.Module):
    """Stands in for ``model.vision_model``: same call, same first output (the image tokens)."""

    def __init__(self, session, out_dtype):
        super().__init__()
        self.session = session
        self.out_dtype = out_dtype

    def forward(self, pixel_values=None, interpolate_pos_encoding: bool = False, **_: Any):
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        if interpolate_pos_encoding:
            raise ValueError("the int8 vision encoder was exported at the model's own image size")
        array = pixel_values.detach().to(torch.float32).contiguous().cpu().numpy()
        (tokens,) = self.session.run(None, {"pixel_values": array})
        hidden = torch.from_numpy(tokens).to(self.out_dtype)
        return BaseModelOutputWithPooling(last_hidden_state=hidden, pooler_output=hidden[:, 0, :])


def _export(vision_model, image_size: int, folder: str) -> str:
    """Export ``vision_model`` (fp32 copy) to ONNX and quantise it: the int8 file's path."""
    import copy
    import tempfile

    from onnxruntime.quantization import QuantType, quantize_dynamic

    final = os.path.join(folder, "vision-int8.onnx")
    if os.path.exists(final):
        return final
    os.makedirs(folder, exist_ok=True)

    class _Tokens(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, pixel_values):
            return self.inner(pixel_values=pixel_values)[0]

    fp32 = copy.deepcopy(vision_model).to(torch.float32).eval()
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        plain = os.path.join(scratch, "vision-fp32.onnx")
        with torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(
                _Tokens(fp32), (torch.zeros(1, 3, image_size, image_size),), plain,
                input_names=["pixel_values"], output_names=["image_tokens"],
                dynamic_axes={"pixel_values": {0: "batch"}, "image_tokens": {0: "batch"}},
                opset_version=17, dynamo=False,
            )
        partial = os.path.join(scratch, "vision-int8.onnx")
        previous = logging.root.manager.disable
        logging.disable(logging.WARNING)  # the quantiser logs one INFO line per tensor on the root logger
        try:
            quantize_dynamic(plain, partial, weight_type=QuantType.QInt8)
        finally:
            logging.disable(previous)
        os.replace(partial, final)  # atomic: a half-written file is never picked up
    return final


def check_inputs(image_size: int, n: int = 2, seed: int = 0):
    """Photo-like normalised pixel batches (smooth colour fields, not white noise) for the check."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 6, 8, generator=g)
    pixels = torch.nn.functional.interpolate(low, size=(image_size, image_size), mode="bicubic", align_corners=False)
    pixels = pixels + 0.03 * torch.randn(n, 3, image_size, image_size, generator=g)
    return ((pixels.clamp(0, 1) - 0.45) / 0.27).to(torch.float32)


def encoder_cosines(reference, candidate) -> list[float]:
    """Per image: cosine similarity of the flattened image tokens."""
    a = reference.to(torch.float32).flatten(1)
    b = candidate.to(torch.float32).flatten(1)
    return torch.nn.functional.cosine_similarity(a, b, dim=1).tolist()


def _session(path: str, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    # waiting threads sleep instead of spinning: on a shared host a spinning pool burns the CPU
    # the other workers need
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def attach(captioner, requested: str | None = None) -> tuple[str, str]:
    """Put the int8 ONNX Runtime vision encoder into ``captioner`` when the engine choice
    (``requested``, default MLCORE_VISION_ENGINE) says so and it passes the fidelity check; returns
    (engine, reason), also set on the captioner as ``vision_engine`` / ``vision_engine_reason``."""
    engine, reason = choose_engine(requested or get_config().vision_engine, arch=captioner.arch,
                                   device=captioner.device)
    if engine == "onnx-int8":
        model = captioner.model
        try:
            image_size = int(model.config.vision_config.image_size)
            with _export_lock:
                path = _export(model.vision_model, image_size, cache_folder(captioner.model_version))
            session = _session(path, torch.get_num_threads())
            ort_model = OrtVisionModel(session, next(model.text_decoder.parameters()).dtype)
            pixels = check_inputs(image_size)
            with torch.inference_mode():
                fp32 = _fp32_tokens(model.vision_model, pixels)
                cosines = encoder_cosines(fp32, ort_model(pixel_values=pixels).last_hidden_state)
            worst = min(cosines)
            if worst < FIDELITY_MIN_COSINE:
                engine, reason = "torch", (f"{reason}; failed its fidelity check (cosine {worst:.4f} < "
                                           f"{FIDELITY_MIN_COSINE} against fp32)")
            else:
                model.vision_model = ort_model
                reason = f"{reason}; encoder cosine vs fp32 >= {worst:.4f}"
        except Exception as error:  # noqa: BLE001 - any failure keeps the torch encoder
            engine, reason = "torch", f"{reason}; not used: {type(error).__name__}: {str(error)[:200]}"
        if engine == "torch":
            logger.warning("int8 vision encoder not used for %s: %s", captioner.model_id, reason)
    captioner.vision_engine, captioner.vision_engine_reason = engine, reason
    return engine, reason


def _fp32_tokens(vision_model, pixels):
    """The torch encoder's image tokens in fp32 (a float32 copy when the model is in bf16)."""
    import copy

    dtype = next(vision_model.parameters()).dtype
    module = vision_model if dtype == torch.float32 else copy.deepcopy(vision_model).to(torch.float32)
    return module(pixel_values=pixels)[0]
