"""Beam search with the cache that leaves the cross-attention keys and values in place (a beam only
continues a beam of its own image): exactly transformers' tokens and scores, for every beam count."""

import pytest
import torch

from benchmarks.testing import make_test_images
from mlcore.params import GenerationParams
from mlcore.predictors.hf import HFCaptioner, beam_cache


@pytest.mark.parametrize("beams", [2, 3, 4])
def test_beam_search_is_unchanged_by_the_shared_cross_attention_cache(tiny_blip_dir, beams):
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    captioner = HFCaptioner.from_pretrained(tiny_blip_dir, dtype="float32", vision_engine="torch")
    params = GenerationParams.from_dict({"num_beams": beams, "max_length": 8, "min_length": 8,
                                         "num_alternatives": min(beams, 2)})
    kw = captioner.generation_kwargs(params)
    inputs = captioner._preprocess(make_test_images(3))
    outputs = []
    for cache in (beam_cache(), EncoderDecoderCache(DynamicCache(), DynamicCache())):
        kw["past_key_values"] = cache
        with torch.inference_mode():
            outputs.append(captioner.model.generate(**inputs, **kw))
    ours, theirs = outputs
    assert torch.equal(ours.sequences, theirs.sequences)
    assert torch.equal(ours.beam_indices, theirs.beam_indices)
    assert len(ours.logits) == len(theirs.logits)
    assert all(torch.equal(a, b) for a, b in zip(ours.logits, theirs.logits, strict=True))


def test_each_call_gets_a_fresh_cache(tiny_blip_dir):
    # a cache is state: reusing one across generate calls would feed one batch's keys to the next
    assert beam_cache() is not beam_cache()
    captioner = HFCaptioner.from_pretrained(tiny_blip_dir, dtype="float32", vision_engine="torch")
    params = GenerationParams.from_dict({"num_beams": 3, "max_length": 6, "min_length": 6})
    assert "past_key_values" not in captioner.generation_kwargs(params)
    first = captioner.caption(make_test_images(2), params)
    again = captioner.caption(make_test_images(2), params)
    assert [r.text for r in first] == [r.text for r in again]
