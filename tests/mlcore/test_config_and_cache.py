"""mlcore's environment read once (mlcore.config), the bounded LRU of loaded models, and the
"auto" dtype (issues 9 and 13)."""

from __future__ import annotations

import gc
import logging
import re
import threading
import weakref
from pathlib import Path

import pytest
import torch

import mlcore
from benchmarks.testing import build_tiny_blip, make_test_images
from mlcore import MLCoreConfig, get_config, load_captioner, reload_config
from mlcore.config import MLCoreConfigError
from mlcore.hfutils import (
    choose_auto_dtype,
    cpu_supports_bf16,
    resolve_dtype_with_reason,
)

FAST = mlcore.GenerationParams(num_beams=1, max_length=5, min_length=1)


# -- config -----------------------------------------------------------------------------------


def test_config_reads_every_variable():
    cfg = MLCoreConfig.from_environ({
        "MLCORE_MAX_BATCH": "16", "MLCORE_MAX_LOADED_MODELS": "3", "MLCORE_HF_CACHE": "/hf",
        "MLCORE_MODELS_DIR": "/models", "MLCORE_ITM_MODEL": "acme/itm", "MLCORE_DEVICE": "cpu",
        "MLCORE_DTYPE": "float32", "HF_HUB_OFFLINE": "1", "MLCORE_MODEL_BLIP_BASE": "/m/blip",
    })
    assert (cfg.max_batch, cfg.max_loaded_models, cfg.hf_cache, cfg.models_dir) == (16, 3, "/hf", "/models")
    assert (cfg.itm_model, cfg.device, cfg.dtype, cfg.offline) == ("acme/itm", "cpu", "float32", True)
    assert cfg.model_override("blip-base") == "/m/blip" and cfg.model_override("git-base-coco") is None
    assert MLCoreConfig.from_environ({"TRANSFORMERS_OFFLINE": "true"}).offline
    empty = MLCoreConfig.from_environ({})
    assert (empty.max_batch, empty.max_loaded_models, empty.offline, empty.dtype) == (None, 2, False, None)
    with pytest.raises(AttributeError):
        cfg.max_batch = 3  # frozen


@pytest.mark.parametrize("name,value", [
    ("MLCORE_MAX_BATCH", "lots"), ("MLCORE_MAX_BATCH", "-1"),
    ("MLCORE_MAX_LOADED_MODELS", "0"), ("MLCORE_MAX_LOADED_MODELS", "2.5"),
])
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(MLCoreConfigError) as exc:
        MLCoreConfig.from_environ({name: value})
    assert exc.value.variable == name and name in str(exc.value) and isinstance(exc.value, ValueError)


def test_read_once_until_reloaded(monkeypatch):
    first = get_config()
    assert get_config() is first
    monkeypatch.setenv("MLCORE_MAX_BATCH", "5")
    assert get_config() is first  # not read again behind the caller's back
    assert reload_config().max_batch == 5 and get_config().max_batch == 5


def test_captioners_use_the_config(tiny_blip_dir, monkeypatch, fresh_cache):
    monkeypatch.setenv("MLCORE_MAX_BATCH", "3")
    monkeypatch.setenv("MLCORE_DTYPE", "float32")
    reload_config()
    cap = load_captioner(tiny_blip_dir)
    assert cap.max_batch_size == 3 and cap.dtype == "float32" and cap.dtype_reason == "explicit"


def test_only_config_reads_the_environment():
    root = Path(mlcore.__file__).parent
    readers = [
        str(p.relative_to(root)) for p in root.rglob("*.py")
        if re.search(r"os\.environ|os\.getenv|getenv\(", p.read_text(encoding="utf-8"))
    ]
    assert readers == ["config.py"], readers


# -- the bounded cache --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def three_models(tmp_path_factory):
    d = tmp_path_factory.mktemp("lru")
    return [build_tiny_blip(d / f"m{i}", seed=i) for i in range(3)]


@pytest.fixture
def max_two(monkeypatch, fresh_cache):
    monkeypatch.setenv("MLCORE_MAX_LOADED_MODELS", "2")
    reload_config()


def test_a_third_model_evicts_the_least_recently_used(three_models, max_two):
    a, b, c = three_models
    first_a = load_captioner(a, dtype="float32")
    first_b = load_captioner(b, dtype="float32")
    assert load_captioner(a, dtype="float32") is first_a  # a is now the most recently used
    load_captioner(c, dtype="float32")  # evicts b, keeps a
    assert load_captioner(a, dtype="float32") is first_a
    assert len(mlcore.registry.loaded_captioners()) == 2
    assert load_captioner(b, dtype="float32") is not first_b  # reloaded: a new object


def test_the_first_model_is_evicted_and_freed(three_models, max_two):
    a, b, c = three_models
    ref = weakref.ref(load_captioner(a, dtype="float32"))
    model_ref = weakref.ref(ref().model)
    load_captioner(b, dtype="float32")
    assert ref() is not None
    load_captioner(c, dtype="float32")
    gc.collect()
    assert ref() is None and model_ref() is None  # nothing keeps the evicted model's weights alive
    again = load_captioner(a, dtype="float32")
    assert len(again.caption(make_test_images(1), FAST)) == 1


def test_an_ensemble_keeps_its_members_and_goes_with_them(three_models, max_two):
    a, b, c = three_models
    ens = load_captioner(f"ensemble:{a},{b}", dtype="float32")
    assert load_captioner(a, dtype="float32") is ens.members[0]
    assert load_captioner(b, dtype="float32") is ens.members[1]
    assert load_captioner(f"ensemble:{a},{b}", dtype="float32") is ens
    load_captioner(c, dtype="float32")  # evicts a member (a), and the ensemble that holds it
    assert load_captioner(f"ensemble:{a},{b}", dtype="float32") is not ens


def test_an_ensemble_larger_than_the_bound_still_loads(three_models, max_two):
    ens = load_captioner("ensemble:" + ",".join(three_models), device="cpu")
    assert len({id(m) for m in ens.members}) == 3
    assert ens.dtype_reason.startswith("auto: ") and all(m.dtype_reason == ens.dtype_reason for m in ens.members)
    assert len(ens.caption(make_test_images(2), FAST)) == 2


def test_concurrent_loads_share_one_object(three_models, max_two):
    a, _, _ = three_models
    got, errors = [], []

    def load():
        try:
            got.append(load_captioner(a, dtype="float32"))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and len(got) == 4 and len({id(c) for c in got}) == 1


# -- the auto dtype -------------------------------------------------------------------------------


@pytest.mark.parametrize("device,cuda_bf16,flags,expected,reason", [
    ("cuda", True, set(), "bfloat16", "CUDA"),
    ("cuda:1", False, set(), "float16", "without bf16"),
    ("cpu", False, {"avx512f", "avx512_bf16", "avx512_vnni"}, "bfloat16", "AVX512-BF16 (avx512_bf16; no AMX)"),
    ("cpu", False, {"amx_tile", "amx_bf16", "avx512_bf16"}, "bfloat16", "AMX-BF16 (amx_bf16)"),
    ("cpu", False, {"avx2", "avx512f"}, "float32", "without native bf16"),
    ("cpu", False, set(), "float32", "without native bf16"),
    ("mps", False, set(), "float32", "mps"),
])
def test_auto_dtype_for_each_machine(device, cuda_bf16, flags, expected, reason):
    dtype, why = choose_auto_dtype(device, cuda_bf16=cuda_bf16, cpu_flag_set=flags)
    assert dtype == expected and why.startswith("auto: ") and reason in why
    assert cpu_supports_bf16(flags) == ("avx512_bf16" in flags or "amx_bf16" in flags)


def test_explicit_float32_stays_float32(tiny_blip_dir, fresh_cache):
    for name in ("float32", "fp32", "FLOAT32"):
        assert resolve_dtype_with_reason(name, "cpu") == ("float32", "explicit")
    cap = load_captioner(tiny_blip_dir, dtype="float32")
    assert cap.dtype_name == "float32" and cap.info()["dtype"] == "float32"
    assert {p.dtype for p in cap.model.parameters()} == {torch.float32}


def test_default_is_auto_and_shown_on_the_captioner(tiny_blip_dir, fresh_cache):
    expected, why = choose_auto_dtype("cpu", cpu_flag_set=mlcore.hfutils.cpu_flags())
    cap = load_captioner(tiny_blip_dir, device="cpu")
    assert cap.dtype_name == expected and cap.dtype_reason == why
    info = cap.info()
    assert info["dtype"] == expected and info["dtype_reason"] == why and info["device"] == "cpu"
    assert {p.dtype for p in cap.model.parameters() if p.is_floating_point()} == {getattr(torch, expected)}
    assert all(r.ok for r in cap.caption(make_test_images(2), FAST))


def test_the_choice_is_logged_once_per_process(tmp_path, caplog, fresh_cache):
    folder = build_tiny_blip(tmp_path / "logged")
    with caplog.at_level(logging.INFO, logger="mlcore.registry"):
        cap = load_captioner(folder, device="cpu")
        mlcore.clear_cache()
        load_captioner(folder, device="cpu")
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("caption model ")]
    assert lines == [f"caption model {cap.model_id} on cpu in {cap.dtype} ({cap.dtype_reason})"]


def test_exports_are_lazy_where_they_would_pull_torch():
    import subprocess
    import sys

    code = (
        "import sys, mlcore\n"
        "assert mlcore.PARAM_RANGES['num_beams'].default == mlcore.GenerationParams().num_beams\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
        "from mlcore import evaluate, score_captions\n"
        "from mlcore.metrics import evaluate as e2\n"
        "assert evaluate is e2 and callable(score_captions) and callable(mlcore.finetune_hf)\n"
        "assert {'evaluate', 'score_captions', 'finetune_hf', 'PARAM_RANGES'} <= set(mlcore.__all__)\n"
        "try:\n    mlcore.no_such_name\nexcept AttributeError:\n    print('ok')\n"
    )
    root = Path(mlcore.__file__).parent.parent
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr


def test_param_ranges_are_the_validation():
    for name, spec in mlcore.PARAM_RANGES.items():
        assert getattr(mlcore.GenerationParams(), name) == spec.default and spec.label and spec.help
        kind, low, high, low_inclusive = spec  # the legacy 4-tuple still unpacks
        assert (kind, low, high, low_inclusive) == (spec.kind, spec.min, spec.max, spec.min_inclusive)
        bad = high + (1 if kind is int else 0.5)
        with pytest.raises(mlcore.InvalidParams) as exc:
            mlcore.GenerationParams(**{name: bad, "do_sample": True})
        assert exc.value.field == name
    assert mlcore.PARAM_FIELDS["do_sample"].kind is bool
    assert mlcore.PARAM_RANGES["top_p"].range_text("top_p") == "0.0 < top_p ≤ 1.0"
