import os
import time

import pytest

from mlcore import (
    ModelLoadError,
    fetch_model,
    load_captioner,
    reload_config,
    resolve_spec,
)
from mlcore.registry import DEFAULT_MODEL, REGISTRY, register_model

HOST_HINTS = ("manage.py", "model_fetch", "CAPTION_MODEL", "Retry", "settings")


def assert_no_host_hints(message: str) -> None:
    """mlcore's errors say what went wrong; the host application adds its own advice."""
    assert not [h for h in HOST_HINTS if h in message], message


def test_registry_names():
    for name in ["blip-base", "blip-large", "blip2-opt-2.7b", "git-base-coco", "git-large-coco", "vit-gpt2"]:
        assert name in REGISTRY
    assert DEFAULT_MODEL == "blip-base"
    ms = resolve_spec("blip-base")
    assert (ms.name, ms.model_id, ms.kind) == ("blip-base", "Salesforce/blip-image-captioning-base", "hf")
    assert resolve_spec(None).model_id == "Salesforce/blip-image-captioning-base"
    assert resolve_spec("vit-gpt2").model_id == "nlpconnect/vit-gpt2-image-captioning"


def test_resolve_kinds(tiny_blip_dir, tmp_path):
    assert resolve_spec("Salesforce/blip-image-captioning-large").kind == "hf"
    local = resolve_spec(tiny_blip_dir)
    assert local.kind == "hf" and local.path == os.path.abspath(tiny_blip_dir)
    ens = resolve_spec("ensemble:blip-base, vit-gpt2;pick=consensus")
    assert ens.kind == "ensemble" and [m.name for m in ens.members] == ["blip-base", "vit-gpt2"]
    assert ens.option("pick") == "consensus"
    inh = resolve_spec(f"inhouse:{tmp_path}")
    assert inh.kind == "inhouse" and inh.path == str(tmp_path)


@pytest.mark.parametrize("spec", ["no-such-model", "./does/not/exist", "/nope/nowhere", "ensemble:", "ensemble:x;pick=vote"])
def test_bad_specs(spec):
    with pytest.raises(ModelLoadError) as exc:
        resolve_spec(spec)
    assert exc.value.reason and exc.value.spec == spec
    assert_no_host_hints(str(exc.value))


def test_local_folder_overrides_a_name(tiny_blip_dir, monkeypatch, fresh_cache):
    monkeypatch.setenv("MLCORE_MODEL_BLIP_BASE", tiny_blip_dir)
    reload_config()
    ms = resolve_spec("blip-base")
    assert ms.path == os.path.abspath(tiny_blip_dir) and ms.name == "blip-base"
    cap = load_captioner("blip-base")
    assert cap.model_id == os.path.abspath(tiny_blip_dir)
    assert load_captioner(tiny_blip_dir) is cap  # same resolved spec -> same object


def test_models_dir_and_register(tiny_blip_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("MLCORE_MODELS_DIR", os.path.dirname(tiny_blip_dir))
    reload_config()
    name = os.path.basename(tiny_blip_dir)
    register_model(name, tiny_blip_dir)
    assert resolve_spec(name).path == os.path.abspath(tiny_blip_dir)


def test_offline_hub_id_fails_fast_with_instructions(monkeypatch, tmp_path, fresh_cache):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MLCORE_HF_CACHE", str(tmp_path))  # an empty cache
    reload_config()
    t0 = time.time()
    with pytest.raises(ModelLoadError) as exc:
        load_captioner("blip-base")
    assert time.time() - t0 < 15
    msg = str(exc.value)
    assert exc.value.spec == "blip-base" and exc.value.reason == msg
    assert "Salesforce/blip-image-captioning-base" in msg and "HF_HUB_OFFLINE" in msg
    assert_no_host_hints(msg)


def test_corrupt_folder(tiny_blip_dir, tmp_path, fresh_cache):
    import shutil

    bad = shutil.copytree(tiny_blip_dir, tmp_path / "bad")
    (bad / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelLoadError) as exc:
        load_captioner(str(bad))
    assert str(bad) in str(exc.value)
    assert_no_host_hints(str(exc.value))

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelLoadError):
        load_captioner(str(empty))

    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ModelLoadError) as exc:
        load_captioner(str(wrong))
    assert "bert" in str(exc.value)


def test_bad_device_or_dtype(tiny_blip_dir, fresh_cache):
    with pytest.raises(ModelLoadError):
        load_captioner(tiny_blip_dir, dtype="float8")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ModelLoadError):
            load_captioner(tiny_blip_dir, device="cuda")


def test_fetch_model(tiny_blip_dir, monkeypatch):
    assert fetch_model(tiny_blip_dir) == os.path.abspath(tiny_blip_dir)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    reload_config()
    with pytest.raises(ModelLoadError) as exc:
        fetch_model("blip-base")
    assert "HF_HUB_OFFLINE" in str(exc.value)
    assert_no_host_hints(str(exc.value))


def test_auto_device_and_dtype():
    import torch

    from mlcore.hfutils import resolve_device, resolve_dtype

    dev = resolve_device(None)
    assert dev == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_dtype(None, "cpu") in ("float32", "bfloat16")  # auto: depends on the CPU
    assert resolve_dtype("float32", "cpu") == "float32"
    assert resolve_dtype("bf16", "cpu") == "bfloat16"
    with pytest.raises(ValueError):
        resolve_dtype("int8", "cuda")


def test_loads_from_the_hf_cache_offline_with_the_commit_as_version(tiny_blip_dir, tmp_path, monkeypatch,
                                                                     fresh_cache):
    """A model fetched on a connected machine (HF cache layout) loads offline by its hub id."""
    import shutil

    sha = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--acme--tiny-captioner"
    shutil.copytree(tiny_blip_dir, repo / "snapshots" / sha)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(sha)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MLCORE_HF_CACHE", str(tmp_path / "hub"))
    reload_config()
    cap = load_captioner("acme/tiny-captioner")
    assert cap.model_id == "acme/tiny-captioner"
    assert cap.model_version == sha[:12]
    from benchmarks.testing import make_test_images

    assert len(cap.caption(make_test_images(2))) == 2
    # and a folder inside a snapshot gets the commit too
    assert load_captioner(str(repo / "snapshots" / sha)).model_version == sha[:12]
