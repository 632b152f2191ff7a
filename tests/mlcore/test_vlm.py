"""Vision-language models (mlcore.predictors.vlm.VLMCaptioner): every architecture as a tiny random
model of that architecture (benchmarks.testing_vlm), loaded through load_captioner like a checkpoint."""

import importlib.util
import os
import re

import pytest

from benchmarks.testing import make_test_images
from benchmarks.testing_vlm import VLM_BUILDERS
from mlcore import GenerationParams, ModelLoadError, clear_cache, load_captioner, register_model
from mlcore.config import reload_config
from mlcore.predictors.vlm import VLMCaptioner
from mlcore.styles import UnsupportedStyle, register_style, unregister_style

P = GenerationParams(num_beams=2, num_alternatives=2, max_length=8, min_length=1)
G = GenerationParams(num_beams=1, max_length=6, min_length=2)

QWEN = ["qwen2_vl", "qwen2_5_vl", "qwen3_vl"]


@pytest.fixture(scope="module", params=list(VLM_BUILDERS))
def vlm(request, tmp_path_factory):
    folder = VLM_BUILDERS[request.param](tmp_path_factory.mktemp(request.param) / "model")
    # float32: exact arithmetic, so a padded row of a batch gives the same logits as the image alone (in
    # bfloat16, "auto" on CPUs with AVX512-BF16, padding changes rounding and can flip a near tie)
    return request.param, folder, load_captioner(str(folder), dtype="float32")


@pytest.fixture(scope="module")
def mixed_images():
    # different sizes and aspect ratios: different numbers of image tokens (LLaVA-NeXT, Qwen) -> padding
    return make_test_images(2, size=(48, 40)) + make_test_images(1, size=(30, 60), seed=1) + \
        make_test_images(1, size=(64, 32), seed=2)


def test_loads_and_captions_a_batch_like_single_images(vlm, mixed_images):
    arch, folder, cap = vlm
    assert isinstance(cap, VLMCaptioner) and cap.model_type == arch and cap.kind == "vlm"
    assert load_captioner(str(folder), dtype="float32") is cap
    batch = cap.caption(mixed_images, G)
    singles = [cap.caption([im], G)[0] for im in mixed_images]
    assert [r.text for r in batch] == [s.text for s in singles]
    assert [r.candidates[0].sequence_score for r in batch] == pytest.approx(
        [s.candidates[0].sequence_score for s in singles], abs=1e-3)
    if not cap.is_encoder_decoder:
        assert cap.tokenizer.padding_side == "left"
    # detection tokens (PaliGemma's processor adds 1024 <locNNNN> and 128 <segNNN>) are never generated
    assert (len(cap._location_ids) == 1152) == (arch == "paligemma")
    assert not any(re.search(r"<(?:loc|seg)_?\d+>", r.raw_text) for r in batch + singles)


def test_beams_alternatives_and_result_fields(vlm, mixed_images):
    _, _, cap = vlm
    res = cap.caption(mixed_images[:3], P)
    assert len(res) == 3
    for r in res:
        assert 0.0 <= r.confidence <= 1.0 and r.model_id == cap.model_id
        assert 1 <= len(r.candidates) <= 2 and r.candidates[0].text == r.text
        assert r.candidates[0].sequence_score is not None and r.candidates[0].sequence_score < 0
        assert (r.style, r.language) == ("alt", "en") and r.prompt == cap.prompt_for(P) and r.tags is None
        assert len(r.text) <= 125
        d = r.to_dict()
        assert d["style"] == "alt" and d["prompt"] == r.prompt


def test_max_length_is_respected(vlm, mixed_images):
    _, _, cap = vlm
    raw, _ = cap.generate_raw(mixed_images[:2], GenerationParams(num_beams=1, max_length=5, min_length=5))
    assert [c[0].num_tokens for c in raw] == [5, 5]
    raw, _ = cap.generate_raw(mixed_images[:2], GenerationParams(num_beams=2, max_length=7, min_length=0))
    assert all(1 <= c.num_tokens <= 7 for cands in raw for c in cands)


def test_styles_and_languages(vlm, mixed_images):
    arch, _, cap = vlm
    try:
        register_style("short-para", "Describe this image briefly in {language}.", max_chars=80, kind="paragraph",
                       token_budget=6)
        params = GenerationParams(num_beams=1, max_length=6, min_length=2, style="short-para")
        if arch == "florence2":  # it follows task tokens: a custom prompt would be ignored, so it is refused
            with pytest.raises(UnsupportedStyle) as exc:
                cap.caption(mixed_images[:1], params)
            assert exc.value.field == "style" and "task tokens" in exc.value.message
            assert exc.value.supported == {"alt", "description"}
        else:
            r = cap.caption(mixed_images[:1], params)[0]
            assert r.style == "short-para" and len(r.text) <= 80
    finally:
        unregister_style("short-para")
    tags_params = GenerationParams(num_beams=1, max_length=6, min_length=2, style="tags")
    de_params = GenerationParams(num_beams=1, max_length=6, min_length=2, language="de")
    if arch == "florence2":
        with pytest.raises(UnsupportedStyle) as exc:
            cap.caption(mixed_images[:1], tags_params)
        assert exc.value.field == "style" and "alt" in exc.value.supported
        with pytest.raises(UnsupportedStyle) as exc:
            cap.caption(mixed_images[:1], de_params)
        assert exc.value.field == "language"
        assert cap.prompt_for(GenerationParams(style="description")) == "<MORE_DETAILED_CAPTION>"
        return
    r = cap.caption(mixed_images[:1], tags_params)[0]
    assert r.style == "tags" and isinstance(r.tags, list)
    assert r.tags == [t.strip() for t in r.text.split(",")] if r.text else r.tags == []
    assert all(t == t.lower() for t in r.tags) and len(set(r.tags)) == len(r.tags)
    r = cap.caption(mixed_images[:1], de_params)[0]
    assert r.language == "de"
    assert r.prompt == ("caption de" if arch == "paligemma" else r.prompt) and ("German" in r.prompt or arch == "paligemma")


def test_registry_name_points_at_a_local_folder(vlm, fresh_cache, monkeypatch):
    arch, folder, _ = vlm
    from mlcore.registry import _LOCAL_OVERRIDES

    monkeypatch.setitem(_LOCAL_OVERRIDES, "smolvlm-256m", str(folder))
    cap = load_captioner("smolvlm-256m")
    assert isinstance(cap, VLMCaptioner) and cap.model_type == arch


def test_registry_vlm_names_fail_clearly_offline(fresh_cache, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MLCORE_HF_CACHE", str(tmp_path))
    reload_config()  # mlcore reads its environment once
    for name in ("smolvlm-256m", "florence-2-base", "qwen2.5-vl-3b", "llava-1.5-7b"):
        with pytest.raises(ModelLoadError) as exc:
            load_captioner(name)
        assert "HF_HUB_OFFLINE" in str(exc.value) and exc.value.spec == name  # the host adds its own hint


def test_prompt_less_captioners_support_alt_only(tiny_blip, images):
    p = GenerationParams(num_beams=1, max_length=6, min_length=2)
    r = tiny_blip.caption(images[:1], p)[0]
    # BLIP captions conditioned on its COCO fine-tuning prefix; only the continuation is returned
    assert (r.style, r.language, r.prompt) == ("alt", "en", "a picture of ")
    raw, _ = tiny_blip.generate_raw(images[:1], p)
    assert raw[0][0].num_tokens <= 6
    enc = tiny_blip._preprocess(images[:1])
    assert tiny_blip.tokenizer.decode(enc["input_ids"][0], skip_special_tokens=True) == "a picture of"
    assert tiny_blip.caption(images[:1], GenerationParams(num_beams=1, max_length=6, language="en-GB"))
    for params, field in [(GenerationParams(style="tags"), "style"), (GenerationParams(style="description"), "style"),
                          (GenerationParams(language="de"), "language")]:
        with pytest.raises(UnsupportedStyle) as exc:
            tiny_blip.caption(images[:1], params)
        assert exc.value.field == field and exc.value.supported == ({"alt"} if field == "style" else {"en"})
        assert "smolvlm" in str(exc.value)


def test_ensemble_mixes_a_vlm_and_blip(tiny_blip_dir, tmp_path_factory, images, fresh_cache):
    folder = VLM_BUILDERS["idefics3"](tmp_path_factory.mktemp("ens") / "smolvlm")
    register_model("smolvlm-256m", str(folder))
    try:
        ens = load_captioner(f"ensemble:smolvlm-256m,{tiny_blip_dir}")
        res = ens.caption(images[:2], GenerationParams(num_beams=2, max_length=6, min_length=1))
        assert len(res) == 2 and {m["model_id"] for m in res[0].details["members"]} == {
            str(folder), tiny_blip_dir}
        assert res[0].details["chosen_model"] in (str(folder), tiny_blip_dir)
        with pytest.raises(UnsupportedStyle):
            ens.caption(images[:1], GenerationParams(style="tags"))
    finally:
        from mlcore.registry import _LOCAL_OVERRIDES

        _LOCAL_OVERRIDES.pop("smolvlm-256m", None)


def test_chat_model_without_a_chat_template_is_a_clear_load_error(tmp_path, fresh_cache):
    folder = str(VLM_BUILDERS["llava"](tmp_path / "base-llava"))
    for name in os.listdir(folder):
        if "chat_template" in name:
            os.remove(os.path.join(folder, name))
    with pytest.raises(ModelLoadError) as exc:
        load_captioner(folder)
    assert "no chat template" in str(exc.value)


@pytest.mark.parametrize("arch", QWEN)
def test_qwen_checkpoint_loads_and_captions_without_torchvision(arch, tmp_path, fresh_cache, mixed_images):
    """A Qwen-VL folder laid out as on the hub (preprocessor_config.json with the pixel bounds,
    video_preprocessor_config.json, chat_template.json, tokenizer files) loads through load_captioner and
    captions, with no torchvision: the processor is the real transformers class minus its video processor."""
    import json
    import math

    import transformers

    from mlcore.images import captioner_target_size
    from mlcore.predictors.vlm import VLM_ARCHITECTURES

    assert importlib.util.find_spec("torchvision") is None, "this test is about the path without torchvision"
    folder = VLM_BUILDERS[arch](tmp_path / "model")
    files = set(os.listdir(folder))
    assert {"preprocessor_config.json", "video_preprocessor_config.json", "chat_template.json"} <= files
    assert "processor_config.json" not in files
    cap = load_captioner(str(folder))
    assert isinstance(cap, VLMCaptioner) and cap.model_type == arch and VLM_ARCHITECTURES[arch] == "chat"
    real_class = {"qwen2_vl": transformers.Qwen2VLProcessor, "qwen2_5_vl": transformers.Qwen2_5_VLProcessor,
                  "qwen3_vl": transformers.Qwen3VLProcessor}[arch]
    assert isinstance(cap.processor, real_class) and not hasattr(cap.processor, "video_processor")
    assert "<|vision_start|><|image_pad|><|vision_end|>" in cap._texts(cap.prompt_for(G), 1)[0]
    res = cap.caption(mixed_images, G)
    assert len(res) == 4 and all(r.text and r.model_id == str(folder) for r in res)

    # the checkpoint's pixel bounds are honoured: every image is resized to at most max_pixels, images of
    # other shapes give other numbers of image tokens, and the worker decodes no larger than needed
    with open(os.path.join(folder, "preprocessor_config.json")) as f:
        pre = json.load(f)
    max_pixels = pre["max_pixels"] if "max_pixels" in pre else pre["size"]["longest_edge"]
    patch = pre["patch_size"]
    grids = cap._inputs(mixed_images, "x")["image_grid_thw"].tolist()
    assert all(h * w * patch * patch <= max_pixels for _, h, w in grids)
    assert len({h * w for _, h, w in grids}) > 1
    assert captioner_target_size(cap) == math.ceil(math.sqrt(max_pixels))
    smaller = max_pixels // 4
    if "max_pixels" in pre:
        pre["max_pixels"] = smaller
    else:
        pre["size"]["longest_edge"] = smaller
    with open(os.path.join(folder, "preprocessor_config.json"), "w") as f:
        json.dump(pre, f)
    clear_cache()  # the same folder again: load it anew
    cap2 = load_captioner(str(folder))
    grids2 = cap2._inputs(mixed_images, "x")["image_grid_thw"].tolist()
    assert all(h * w * patch * patch <= smaller for _, h, w in grids2)
    assert sum(h * w for _, h, w in grids2) < sum(h * w for _, h, w in grids)
    assert captioner_target_size(cap2) == math.ceil(math.sqrt(smaller))
    assert all(r.text for r in cap2.caption(mixed_images[:2], G))


def test_alt_limits_apply_to_prompt_less_captioners(tiny_blip, images):
    res = tiny_blip.caption(images[:3], GenerationParams(num_beams=2, num_alternatives=2, max_length=60,
                                                         min_length=60, repetition_penalty=1.0))
    for r in res:
        assert r.text and len(r.text) <= 125 and r.text.endswith(".")
        assert len(r.raw_text) > 125  # the model wrote more; the alt style cut it at a word
        assert all(len(c.text) <= 125 for c in r.candidates)
        assert r.raw_text.lower().startswith(r.text[:-1].lower().split(" ")[0])
