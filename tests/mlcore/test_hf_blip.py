"""The BLIP predictor end to end on a tiny random BLIP built by the test (real transformers code)."""

import json
import math
import shutil

import pytest
import torch

from benchmarks.testing import make_test_images
from mlcore import Candidate, CaptionResult, GenerationParams, load_captioner
from mlcore.predictors.hf import HFCaptioner, _mean_logprobs

FAST = GenerationParams(num_beams=3, max_length=12, min_length=2)


def test_one_result_per_image_in_order(tiny_blip, images):
    results = tiny_blip.caption(images, FAST)
    assert len(results) == len(images)
    singles = [tiny_blip.caption([im], FAST)[0] for im in images]
    assert [r.text for r in results] == [s.text for s in singles]
    assert [r.raw_text for r in results] == [s.raw_text for s in singles]
    for r, s in zip(results, singles, strict=False):
        assert r.confidence == pytest.approx(s.confidence, abs=1e-4)
    # the tiny model is image-dependent, so order is really being checked
    assert len({r.text for r in results}) > 1


def test_result_fields(tiny_blip, images):
    r = tiny_blip.caption(images[:2], FAST)[0]
    assert isinstance(r, CaptionResult)
    assert r.model_id == tiny_blip.model_id and r.model_version == tiny_blip.model_version
    assert 0.0 <= r.confidence <= 1.0
    assert r.candidates and isinstance(r.candidates[0], Candidate)
    assert r.candidates[0].text == r.text
    assert set(r.timings) >= {"preprocess_ms", "generate_ms", "total_ms"}
    assert r.timings["total_ms"] >= r.timings["generate_ms"] > 0
    assert r.raw_text and r.raw_text == r.raw_text.strip()
    d = r.to_dict()
    json.dumps(d)
    assert d["text"] == r.text and d["candidates"][0]["text"] == r.text


def test_deterministic(tiny_blip, images):
    a = [r.to_dict() for r in tiny_blip.caption(images, FAST)]
    b = [r.to_dict() for r in tiny_blip.caption(images, FAST)]
    for x, y in zip(a, b, strict=False):
        x.pop("timings"), y.pop("timings")
    assert a == b
    g = GenerationParams(num_beams=1, max_length=10, num_alternatives=1)
    assert [r.text for r in tiny_blip.caption(images, g)] == [r.text for r in tiny_blip.caption(images, g)]


def test_alternatives_ranked_and_counted(tiny_blip, images):
    p = GenerationParams(num_beams=4, num_alternatives=3, max_length=12, min_length=2)
    for r in tiny_blip.caption(images, p):
        assert 1 <= len(r.candidates) <= 3
        scores = [c.score for c in r.candidates]
        assert scores == sorted(scores, reverse=True)
        assert r.candidates[0].text == r.text and r.confidence == r.candidates[0].score
        assert len({c.text.lower() for c in r.candidates}) == len(r.candidates)  # deduplicated
        assert all(0.0 <= s <= 1.0 for s in scores)


def test_sampling_returns_alternatives(tiny_blip, images):
    torch.manual_seed(0)
    p = GenerationParams(do_sample=True, num_beams=1, temperature=1.5, top_p=0.9, num_alternatives=4,
                         max_length=10)
    results = tiny_blip.caption(images[:3], p)
    assert len(results) == 3
    assert any(len(r.candidates) > 1 for r in results)


def test_sequence_score_equals_teacher_forced_logprob(tiny_blip, images):
    """The score comes from generate's logits; it must equal a teacher-forced forward pass."""
    p = GenerationParams(num_beams=1, max_length=8, min_length=0, repetition_penalty=1.0)
    raw, _ = tiny_blip.generate_raw(images[:2], p)
    model = tiny_blip.model
    inputs = tiny_blip._preprocess(images[:2])
    with torch.inference_mode():
        seq = model.generate(**inputs, max_new_tokens=8, min_new_tokens=1, num_beams=1, do_sample=False,
                             suppress_tokens=tiny_blip.suppressed_token_ids)
        logits = model(pixel_values=inputs["pixel_values"], input_ids=seq[:, :-1]).logits
        logp = torch.log_softmax(logits.float(), dim=-1)
    sep = model.config.text_config.sep_token_id
    # generated tokens start after [DEC] + BLIP's conditional prompt ("a picture of ")
    start = inputs["input_ids"].shape[1] - 1 if "input_ids" in inputs else 1
    for i in range(2):
        toks = seq[i, start:].tolist()
        lps = [logp[i, start - 1 + t, tok].item() for t, tok in enumerate(toks)]
        if sep in toks:
            lps = lps[: toks.index(sep) + 1]
        expected = sum(lps) / len(lps)
        assert raw[i][0].mean_logprob == pytest.approx(expected, abs=1e-4)
        assert math.exp(expected) == pytest.approx(
            __import__("mlcore.confidence", fromlist=["x"]).sequence_confidence(expected)
        )


def test_mean_logprobs_masks_after_eos():
    tokens = torch.tensor([[5, 6, 3, 0, 0], [5, 6, 7, 8, 9]])
    trans = torch.tensor([[-1.0, -2.0, -3.0, -9.0, -9.0], [-1.0, -1.0, -1.0, -1.0, -1.0]])
    assert _mean_logprobs(tokens, trans, {3}) == [pytest.approx(-2.0), pytest.approx(-1.0)]
    beam_valid = torch.tensor([[True] * 5, [True, True, False, False, False]])
    assert _mean_logprobs(tokens, trans, {3}, beam_valid)[1] == pytest.approx(-1.0)
    assert _mean_logprobs(tokens[:, :0], trans[:, :0], {3}) == [None, None]


def test_chunking_gives_the_same_results(tiny_blip_dir, images, fresh_cache):
    big = load_captioner(tiny_blip_dir)
    small = load_captioner(tiny_blip_dir, max_batch_size=2)
    assert small is not big and small.max_batch_size == 2
    a = big.caption(images[:5], FAST)
    b = small.caption(images[:5], FAST)
    assert [r.text for r in a] == [r.text for r in b]
    assert b[0].timings["batch_size"] == 2 and b[-1].timings["batch_size"] == 1


def test_image_modes_and_sizes(tiny_blip):
    from PIL import Image

    imgs = [
        Image.new("RGBA", (20, 31), (200, 10, 10, 128)),
        Image.new("L", (64, 16), 128),
        Image.new("P", (5, 5)),
        Image.new("RGB", (1, 1), (0, 0, 255)),
        Image.new("CMYK", (40, 40)),
    ]
    res = tiny_blip.caption(imgs, FAST)
    assert len(res) == 5


def test_bad_inputs(tiny_blip):
    assert tiny_blip.caption([], FAST) == []
    with pytest.raises(TypeError):
        tiny_blip.caption(["not an image"], FAST)
    with pytest.raises(TypeError):
        tiny_blip.caption(make_test_images(1)[0], FAST)
    with pytest.raises(TypeError):
        tiny_blip.caption(make_test_images(1), {"num_beams": 3})


def test_default_params_work(tiny_blip, images):
    res = tiny_blip.caption(images[:2])
    assert len(res) == 2


def test_version_is_stable_and_content_sensitive(tiny_blip_dir, tmp_path, fresh_cache):
    from benchmarks.testing import build_tiny_blip

    v1 = load_captioner(tiny_blip_dir).model_version
    assert len(v1) >= 8
    copy = shutil.copytree(tiny_blip_dir, tmp_path / "copy")
    assert load_captioner(str(copy)).model_version == v1
    other = build_tiny_blip(tmp_path / "other", seed=1)
    assert load_captioner(other).model_version != v1


def test_cache_returns_same_object(tiny_blip_dir, fresh_cache):
    a = load_captioner(tiny_blip_dir, device="cpu", dtype="float32")
    assert load_captioner(tiny_blip_dir, device="cpu", dtype="float32") is a
    assert load_captioner(tiny_blip_dir + "/", dtype="fp32") is a  # same resolved folder and dtype
    assert isinstance(a, HFCaptioner) and a.device == "cpu" and a.dtype == "float32"
    b = load_captioner(tiny_blip_dir, dtype="bfloat16")
    assert b is not a and b.dtype == "bfloat16"
    auto = load_captioner(tiny_blip_dir)  # the default: "auto"
    assert auto is (b if auto.dtype == "bfloat16" else a)
    assert len(b.caption(make_test_images(2), FAST)) == 2


def test_empty_output_is_handled(tiny_blip, images, monkeypatch):
    """A model that produces nothing gives '' and confidence 0, never a crash, and the result says
    it is not a caption (ok False, an error); caption_isolated makes it a failure."""
    from mlcore.predictors.base import RawCandidate

    def empty(imgs, params):
        return [[RawCandidate("", None), RawCandidate(" , . ", -0.1)] for _ in imgs], {}

    monkeypatch.setattr(tiny_blip, "generate_raw", empty)
    res = tiny_blip.caption(images[:2], FAST)
    assert [r.text for r in res] == ["", ""]
    assert all(r.confidence == 0.0 for r in res)
    assert "empty" in res[0].details["flags"]
    assert not any(r.ok for r in res) and all(r.details["error"] for r in res)
    from mlcore import CaptionFailure

    isolated = tiny_blip.caption_isolated(images[:2], FAST)
    assert all(isinstance(r, CaptionFailure) and r.reason and not r.ok for r in isolated)
