"""BLIP's vision encoder on ONNX Runtime int8: chosen where it pays, exported once into the model
cache, used only when it passes its fidelity check against fp32, and the torch encoder otherwise."""

from __future__ import annotations

import os

import pytest
import torch

pytest.importorskip("onnxruntime")

from benchmarks.fidelity import THRESHOLDS, measure  # noqa: E402
from benchmarks.testing import build_tiny_blip, make_test_images  # noqa: E402
from mlcore import reload_config  # noqa: E402
from mlcore.config import MLCoreConfigError  # noqa: E402
from mlcore.params import GenerationParams  # noqa: E402
from mlcore.predictors.hf import HFCaptioner  # noqa: E402
from mlcore.predictors.onnx_vision import (  # noqa: E402
    FIDELITY_MIN_COSINE,
    OrtVisionModel,
    cache_folder,
    choose_engine,
)

VNNI = frozenset({"avx512f", "avx512_bf16", "avx512_vnni"})


@pytest.mark.parametrize(("requested", "arch", "device", "flags", "have_ort", "engine", "reason"), [
    ("auto", "blip", "cpu", VNNI, True, "onnx-int8", "CPU has avx512_vnni"),
    ("auto", "blip", "cpu", frozenset({"avx2", "avx_vnni"}), True, "onnx-int8", "CPU has avx_vnni"),
    ("auto", "blip", "cpu", frozenset({"avx2"}), True, "torch", "without VNNI"),
    ("onnx-int8", "blip", "cpu", frozenset({"avx2"}), True, "onnx-int8", "no VNNI: expect it to be slower"),
    ("auto", "blip", "cpu", VNNI, False, "torch", "onnxruntime is not installed"),
    ("onnx-int8", "blip", "cpu", VNNI, False, "torch", "onnxruntime is not installed"),
    ("auto", "blip", "cuda", VNNI, True, "torch", "runs on the CPU, not cuda"),
    ("auto", "git", "cpu", VNNI, True, "torch", "BLIP only, not git"),
    ("torch", "blip", "cpu", VNNI, True, "torch", "explicit"),
    (None, "blip", "cpu", VNNI, True, "onnx-int8", "auto: "),
])
def test_the_engine_follows_the_machine(requested, arch, device, flags, have_ort, engine, reason):
    chosen, why = choose_engine(requested, arch=arch, device=device, flags=flags, have_onnxruntime=have_ort)
    assert chosen == engine and reason in why


def test_an_unknown_engine_is_a_clear_error(monkeypatch):
    with pytest.raises(ValueError, match="unknown vision engine 'fast'"):
        choose_engine("fast", arch="blip", device="cpu", flags=VNNI, have_onnxruntime=True)
    with monkeypatch.context() as patched:
        patched.setenv("MLCORE_VISION_ENGINE", "turbo")
        with pytest.raises(MLCoreConfigError, match="MLCORE_VISION_ENGINE: must be auto, torch or onnx-int8"):
            reload_config()
    assert reload_config().vision_engine == "torch"  # opt-in (docs/performance.md, fidelity)


@pytest.fixture
def model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MLCORE_HF_CACHE", str(tmp_path / "cache"))
    reload_config()
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def faithful_blip(tmp_path_factory) -> str:
    """A tiny BLIP whose int8 encoder stays within the fidelity mark (weights at the usual scale)."""
    return build_tiny_blip(tmp_path_factory.mktemp("faithful") / "blip", scale=0.5)


@pytest.mark.slow
def test_int8_encoder_is_exported_once_checked_and_used(faithful_blip, model_cache):
    captioner = HFCaptioner.from_pretrained(faithful_blip, dtype="bfloat16", vision_engine="onnx-int8")

    assert captioner.vision_engine == "onnx-int8"
    assert isinstance(captioner.model.vision_model, OrtVisionModel)
    assert "encoder cosine vs fp32 >=" in captioner.info()["vision_engine_reason"]
    exported = os.path.join(cache_folder(captioner.model_version), "vision-int8.onnx")
    assert os.path.isfile(exported) and str(model_cache) in exported
    assert sorted(os.listdir(os.path.dirname(exported))) == ["vision-int8.onnx"]  # no scratch left behind
    stamp = os.stat(exported).st_mtime_ns

    params = GenerationParams.from_dict({"num_beams": 2, "max_length": 6, "min_length": 6})
    results = captioner.caption(make_test_images(3), params)
    assert len(results) == 3 and all(r.text for r in results) and all(0 <= r.confidence <= 1 for r in results)

    again = HFCaptioner.from_pretrained(faithful_blip, dtype="bfloat16", vision_engine="onnx-int8")
    assert again.vision_engine == "onnx-int8" and os.stat(exported).st_mtime_ns == stamp  # reused, not re-exported


@pytest.mark.slow
def test_int8_encoder_fidelity_against_fp32_on_a_tiny_model(faithful_blip, model_cache):
    reference = HFCaptioner.from_pretrained(faithful_blip, dtype="float32", vision_engine="torch")
    variant = HFCaptioner.from_pretrained(faithful_blip, dtype="float32", vision_engine="onnx-int8")
    assert variant.vision_engine == "onnx-int8"

    figures = measure(reference, variant, make_test_images(4), max_length=8)

    assert figures["encoder_cosine"] >= FIDELITY_MIN_COSINE
    assert figures["decoder_cosine"] >= THRESHOLDS["decoder_cosine"]
    assert figures["token_agreement"] >= THRESHOLDS["token_agreement"]
    assert figures["passes"] is True
    same = measure(reference, reference, make_test_images(2), max_length=8)
    assert same["token_agreement"] == 1.0 and same["exact_captions"] == 1.0
    assert same["encoder_cosine"] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow
def test_an_encoder_that_fails_its_fidelity_check_keeps_torch(tmp_path, model_cache):
    # weights three times the usual scale: activations int8 cannot hold (cosine about 0.98)
    folder = build_tiny_blip(tmp_path / "loud", scale=3.0)

    captioner = HFCaptioner.from_pretrained(folder, dtype="float32", vision_engine="onnx-int8")

    assert captioner.vision_engine == "torch"
    assert "failed its fidelity check" in captioner.vision_engine_reason
    assert not isinstance(captioner.model.vision_model, OrtVisionModel)
    reference = HFCaptioner.from_pretrained(folder, dtype="float32", vision_engine="torch")
    images = make_test_images(2)
    with torch.inference_mode():
        same = measure(reference, captioner, images, max_length=6)
    assert same["token_agreement"] == 1.0  # the torch encoder, exactly


def test_torch_engine_loads_no_onnx(tiny_blip_dir, model_cache):
    captioner = HFCaptioner.from_pretrained(tiny_blip_dir, dtype="float32", vision_engine="torch")

    assert captioner.vision_engine == "torch" and captioner.info()["vision_engine_reason"] == "explicit"
    assert not model_cache.exists()
