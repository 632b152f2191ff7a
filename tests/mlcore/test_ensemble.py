import pytest

from benchmarks.testing import build_tiny_blip, build_tiny_git
from mlcore import GenerationParams, load_captioner
from mlcore.metrics import consensus_scores
from mlcore.predictors.ensemble import EnsembleCaptioner

P = GenerationParams(num_beams=2, num_alternatives=2, max_length=8, min_length=1)


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    d = tmp_path_factory.mktemp("ens")
    return build_tiny_blip(d / "blip"), build_tiny_git(d / "git")


def test_ensemble_by_confidence(two_models, images, fresh_cache):
    a, b = two_models
    ens = load_captioner(f"ensemble:{a},{b}")
    assert isinstance(ens, EnsembleCaptioner)
    assert load_captioner(f"ensemble:{a},{b}") is ens
    # members come from the process-wide cache: loaded once
    assert ens.members[0] is load_captioner(a) and ens.members[1] is load_captioner(b)
    res = ens.caption(images, P)
    single = [m.caption(images, P) for m in ens.members]
    assert len(res) == len(images)
    for i, r in enumerate(res):
        best_member = max((s[i] for s in single), key=lambda x: x.confidence)
        assert r.confidence == pytest.approx(best_member.confidence)
        assert r.text == best_member.text
        assert r.details["chosen_model"] in (ens.members[0].model_id, ens.members[1].model_id)
        assert r.model_id.startswith("ensemble:") and r.model_version
        assert 1 <= len(r.candidates) <= 2
        assert set(r.timings) >= {"preprocess_ms", "generate_ms", "total_ms"}


def test_ensemble_by_consensus(two_models, images, fresh_cache):
    a, b = two_models
    ens = load_captioner(f"ensemble:{a},{b},{a};pick=consensus")
    assert ens.pick == "consensus" and len(ens.members) == 3
    assert ens.members[0] is ens.members[2]
    res = ens.caption(images[:3], P)
    for r in res:
        # the duplicated member agrees with itself, so its caption wins the vote
        assert r.details["chosen_model"] == ens.members[0].model_id
        assert r.details["consensus"] == sorted(r.details["consensus"], reverse=True)


def test_consensus_scores_pick_the_majority():
    cands = ["a dog on the grass", "a dog on grass", "a red car on a street", "a dog on the green grass"]
    s = consensus_scores(cands)
    assert max(range(4), key=s.__getitem__) in (0, 1, 3)
    assert s[2] == min(s)
    assert consensus_scores(["x"]) == [1.0]
    ctx = [["a cat on a bed", "a cat sleeping"], ["a car on a road"]]
    sc = consensus_scores(cands, "cider", ctx)
    assert sc[2] == min(sc)
