import math

import pytest

from mlcore.confidence import (
    ConfidenceConfig,
    auroc,
    calibrate,
    combine,
    sanity_factor,
    sequence_confidence,
    threshold_for_precision,
)


def test_sequence_confidence_mapping():
    assert sequence_confidence(0.0) == 1.0
    assert sequence_confidence(-1.0) == pytest.approx(math.exp(-1))
    assert sequence_confidence(None) == 0.0
    assert sequence_confidence(float("-inf")) == 0.0
    assert sequence_confidence(-1.0, ConfidenceConfig(sequence_temperature=2.0)) == pytest.approx(math.exp(-0.5))
    assert sequence_confidence(-0.5) > sequence_confidence(-2.0)  # monotone


def test_sanity_terms():
    assert sanity_factor("") == (0.0, ["empty"])
    assert sanity_factor(" . ") == (0.0, ["empty"])
    assert sanity_factor("A dog on the grass.") == (1.0, [])
    f, flags = sanity_factor("Dog.")
    assert f == 0.5 and flags == ["length"]
    f, flags = sanity_factor(" ".join(["word"] * 10 + [f"w{i}" for i in range(25)]))
    assert "length" in flags and "repeats" in flags
    f, flags = sanity_factor("A man riding a horse.", raw_text="a man a man a man riding a horse")
    assert "repeats" in flags and 0 < f < 1


def test_combined_score():
    s, d = combine("A dog on the grass.", -0.5)
    assert s == pytest.approx(math.exp(-0.5)) and d["sanity"] == 1.0
    s2, d2 = combine("A dog on the grass.", -0.5, itm_prob=0.9)
    assert s2 == pytest.approx((math.exp(-0.5) + 0.9) / 2) and d2["itm"] == 0.9
    s3, _ = combine("A dog on the grass.", -0.5, itm_prob=0.9, config=ConfidenceConfig(itm_weight=3.0))
    assert s3 == pytest.approx((math.exp(-0.5) + 3 * 0.9) / 4)
    assert combine("", -0.1)[0] == 0.0
    for lp in [-100.0, -3.0, 0.0, 5.0]:
        assert 0.0 <= combine("a cat", lp, 1.5)[0] <= 1.0


def test_auroc_hand_computed():
    # positives 0.9, 0.6 ; negatives 0.7, 0.1 -> pairs (0.9>0.7, 0.9>0.1, 0.6<0.7, 0.6>0.1) = 3/4
    assert auroc([0.9, 0.7, 0.6, 0.1], ["good", "bad", "good", "bad"]) == pytest.approx(0.75)
    assert auroc([0.5, 0.5], [1, 0]) == pytest.approx(0.5)  # a tie counts half
    assert auroc([0.1, 0.9], [0, 1]) == 1.0
    assert auroc([0.1, 0.9], [1, 1]) is None
    with pytest.raises(ValueError):
        auroc([0.1], ["meh"])


def test_threshold_for_target_precision():
    scores = [0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]
    labels = ["good", "good", "good", "bad", "good", "bad", "bad", "bad"]
    t = threshold_for_precision(scores, labels, 1.0)
    assert t["threshold"] == 0.8 and t["precision"] == 1.0 and t["recall"] == 0.75 and t["coverage"] == 3 / 8
    t = threshold_for_precision(scores, labels, 0.8)
    # at 0.6: 4 good of 5 -> 0.8 ; at 0.5: 4/6 < 0.8
    assert t["threshold"] == 0.6 and t["precision"] == pytest.approx(0.8) and t["recall"] == 1.0
    assert threshold_for_precision([0.9, 0.8], ["bad", "good"], 1.0)["threshold"] is None  # best is bad
    assert threshold_for_precision([0.9], ["bad"], 0.5)["threshold"] is None


def test_calibrate_report_and_config():
    scores = [0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]
    labels = [True, True, True, False, True, False, False, False]
    rep = calibrate(scores, labels, target_precision=0.8)
    assert rep.n == 8 and rep.n_good == 4 and rep.threshold == 0.6
    assert rep.auroc == pytest.approx(15 / 16)
    assert rep.config().review_threshold == 0.6
    assert set(rep.to_dict()) >= {"auroc", "threshold", "precision", "recall", "coverage"}
