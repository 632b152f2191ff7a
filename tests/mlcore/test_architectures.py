"""Every supported architecture, as a tiny random model of that architecture, through the real
transformers classes: a transformers upgrade that breaks one of them fails here."""

import pytest
import torch

from benchmarks.testing import BUILDERS, build_tiny_blip_itm
from mlcore import GenerationParams, load_captioner
from mlcore.predictors.hf import HFCaptioner

P = GenerationParams(num_beams=2, num_alternatives=2, max_length=10, min_length=1)


@pytest.fixture(scope="module", params=["blip2", "git", "vision-encoder-decoder"])
def arch_captioner(request, tmp_path_factory):
    folder = BUILDERS[request.param](tmp_path_factory.mktemp(request.param) / "model")
    cap = load_captioner(str(folder))
    return request.param, cap


def test_architecture_loads_and_captions(arch_captioner, images):
    arch, cap = arch_captioner
    assert isinstance(cap, HFCaptioner) and cap.arch == arch
    batch = cap.caption(images, P)
    singles = [cap.caption([im], P)[0] for im in images]
    assert [r.text for r in batch] == [s.text for s in singles]
    assert len({r.text for r in batch}) > 1  # image-dependent
    for r in batch:
        assert r.raw_text and 0.0 <= r.confidence <= 1.0
        assert r.candidates[0].text == r.text and len(r.candidates) <= 2
        assert r.candidates[0].sequence_score is not None and r.candidates[0].sequence_score < 0
        assert r.model_id == cap.model_id


def test_architecture_greedy_and_sampling(arch_captioner, images):
    _, cap = arch_captioner
    g = GenerationParams(num_beams=1, max_length=6, min_length=0)
    assert [r.text for r in cap.caption(images[:3], g)] == [r.text for r in cap.caption(images[:3], g)]
    torch.manual_seed(0)
    s = GenerationParams(do_sample=True, num_beams=1, num_alternatives=3, temperature=1.2, top_p=0.95,
                         max_length=6, no_repeat_ngram_size=2)
    res = cap.caption(images[:2], s)
    assert len(res) == 2 and all(1 <= len(r.candidates) <= 3 for r in res)


def test_max_length_is_respected(arch_captioner, images):
    _, cap = arch_captioner
    raw, _ = cap.generate_raw(images[:2], GenerationParams(num_beams=1, max_length=5, min_length=5))
    assert [c[0].num_tokens for c in raw] == [5, 5]
    raw, _ = cap.generate_raw(images[:2], GenerationParams(num_beams=2, max_length=7, min_length=0))
    assert all(1 <= c.num_tokens <= 7 for cands in raw for c in cands)


@pytest.fixture(scope="module")
def itm_dir(tmp_path_factory):
    return build_tiny_blip_itm(tmp_path_factory.mktemp("itm") / "itm")


def test_itm_probabilities_match_the_model_forward(itm_dir, images):
    from transformers import BlipForImageTextRetrieval

    from mlcore.predictors.hf import ITMScorer

    scorer = ITMScorer.from_pretrained(itm_dir, dtype="float32")  # compared with fp32 below
    texts = [["a dog on grass", "a red car"], ["two cats"]]
    probs = scorer.match_probs(images[:2], texts)
    assert [len(p) for p in probs] == [2, 1]
    model = BlipForImageTextRetrieval.from_pretrained(itm_dir).eval()
    proc = scorer.processor
    for i, cands in enumerate(texts):
        for j, t in enumerate(cands):
            enc = proc(images=images[i], text=t, return_tensors="pt")
            with torch.inference_mode():
                out = model(pixel_values=enc["pixel_values"], input_ids=enc["input_ids"],
                            attention_mask=enc["attention_mask"], use_itm_head=True)
            expected = torch.softmax(out.itm_score, dim=-1)[0, 1].item()
            assert probs[i][j] == pytest.approx(expected, abs=1e-5)


def test_captioner_with_itm(tiny_blip_dir, itm_dir, images, fresh_cache):
    cap = load_captioner(tiny_blip_dir, itm=itm_dir)
    assert cap is load_captioner(tiny_blip_dir, itm=itm_dir)
    assert cap is not load_captioner(tiny_blip_dir)
    res = cap.caption(images[:3], GenerationParams(num_beams=3, num_alternatives=3, max_length=8))
    for r in res:
        assert "itm" in r.details and "itm_ms" in r.timings
        assert all(c.itm_score is not None and 0 <= c.itm_score <= 1 for c in r.candidates)
        assert [c.score for c in r.candidates] == sorted((c.score for c in r.candidates), reverse=True)
