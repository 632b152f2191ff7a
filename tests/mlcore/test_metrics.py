import json
import math
import shutil

import pytest

from mlcore import GenerationParams
from mlcore.metrics import cider_d, evaluate, score_captions, sentence_bleu, simple_tokenize

REFS = {1: ["a dog on the grass", "a dog runs on grass"], 2: ["a red car"]}
HYPS = {1: "A dog on the grass.", 2: "a blue car"}

needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="java is needed for PTB tokenisation/METEOR")


@pytest.fixture(scope="module")
def scored():
    return score_captions(REFS, HYPS)


@needs_java
def test_bleu_and_rouge_against_hand_computed_values(scored):
    s = scored["scores"]
    assert scored["tokenizer"] == "ptb" and scored["n"] == 2
    # clipped n-gram matches over the corpus: 1-grams 7/8, 2-grams 4/6, 3-grams 3/4, 4-grams 2/2;
    # hypothesis length 8 = closest reference lengths 5 + 3 -> brevity penalty 1.
    p = [7 / 8, 4 / 6, 3 / 4, 2 / 2]
    for n in range(1, 5):
        expected = math.prod(p[:n]) ** (1 / n)
        assert s[f"Bleu_{n}"] == pytest.approx(expected, abs=1e-6)
    # ROUGE-L (beta 1.2): image 1 matches a reference exactly (1.0); image 2: LCS 2 of 3 words
    # both ways -> P = R = 2/3 -> F = 2/3.
    assert s["ROUGE_L"] == pytest.approx((1 + 2 / 3) / 2, abs=1e-6)
    assert scored["per_image"][2]["ROUGE_L"] == pytest.approx(2 / 3, abs=1e-6)


@needs_java
def test_cider_matches_an_independent_implementation(scored):
    ours = cider_d([HYPS[1], HYPS[2]], [REFS[1], REFS[2]])
    assert scored["per_image"][1]["CIDEr"] == pytest.approx(ours[0], rel=1e-9)
    assert scored["per_image"][2]["CIDEr"] == pytest.approx(ours[1], rel=1e-9)
    assert scored["scores"]["CIDEr"] == pytest.approx(sum(ours) / 2, rel=1e-9)
    # image 2 by hand: idf = log 2 for every n-gram of "a red car" (1 of 2 images) except "a"
    # (in both: idf 0). Unigram vectors: hyp {a:0, blue:log2, car:log2}, ref {a:0, red:log2, car:log2}
    # -> cosine 1/2; bigrams/trigrams share nothing -> 0. Lengths (bigram counts) equal -> no penalty.
    assert ours[1] == pytest.approx(10 * (0.5 / 4), rel=1e-9)


@needs_java
def test_meteor_and_skips(scored):
    assert scored["per_image"][1]["METEOR"] == pytest.approx(1.0, abs=0.01)
    assert 0 < scored["per_image"][2]["METEOR"] < scored["per_image"][1]["METEOR"]
    assert "SPICE" not in scored["scores"]
    assert scored["skipped"] == {}


def test_sentence_bleu():
    assert sentence_bleu("a dog on the grass", ["a dog on the grass"]) == pytest.approx(1.0)
    assert sentence_bleu("", ["a dog"]) == 0.0
    assert sentence_bleu("zebra", ["a dog"]) == 0.0
    assert 0 < sentence_bleu("a dog on grass", ["a dog on the grass"]) < 1
    assert simple_tokenize("A Dog's toy, on   grass!") == "a dog's toy on grass"
    # by hand: 1-grams 4/4; 2-grams 2/3 -> (2+1)/(3+1); 3-grams 1/2 -> 2/3; 4-grams 0/1 -> 1/2;
    # 4 words against the closest reference of 5 -> brevity penalty exp(1 - 5/4)
    expected = math.exp(1 - 5 / 4) * (1 * 0.75 * (2 / 3) * 0.5) ** 0.25
    assert sentence_bleu("a dog on grass", ["a dog on the grass"]) == pytest.approx(expected, rel=1e-12)


def test_cider_d_without_java_by_hand():
    # the same image-2 case as below, with the Java-less tokeniser: 10 * (cosine 1/2 of unigrams) / 4
    assert cider_d(["a blue car", "a dog"], [["a red car"], ["a dog runs"]])[0] == pytest.approx(10 * 0.5 / 4)


@needs_java
def test_evaluate_writes_captions_and_scores(tiny_blip, images, tmp_path):
    img_dir = tmp_path / "imgs"
    img_dir.mkdir()
    coco = {"images": [], "annotations": []}
    for i, im in enumerate(images[:3]):
        name = f"{i:03d}.png"  # lossless, so the caption can be compared
        im.save(img_dir / name)
        coco["images"].append({"id": i, "file_name": name})
        coco["annotations"].append({"id": 10 + i, "image_id": i, "caption": "a dog on the grass"})
        coco["annotations"].append({"id": 20 + i, "image_id": i, "caption": "a red car parked on a street"})
    ann = tmp_path / "captions.json"
    ann.write_text(json.dumps(coco))
    out_path = tmp_path / "eval.json"
    evaluate(tiny_blip, str(ann), str(img_dir), out_json=str(out_path),
                   params=GenerationParams(num_beams=1, max_length=8), batch_size=2, progress=False)
    saved = json.loads(out_path.read_text())
    assert saved["n_images"] == 3 and len(saved["per_image"]) == 3
    assert set(saved["scores"]) >= {"Bleu_1", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr"}
    assert saved["per_image"][0]["references"] == ["a dog on the grass", "a red car parked on a street"]
    assert saved["per_image"][0]["caption"] == tiny_blip.caption([images[0]], GenerationParams(num_beams=1, max_length=8))[0].text
    assert saved["model_version"] == tiny_blip.model_version


@needs_java
def test_spice_is_optional():
    out = score_captions(REFS, HYPS, spice=True, meteor=False)
    assert "CIDEr" in out["scores"] and "METEOR" not in out["scores"]
    # SPICE needs Stanford CoreNLP models it downloads on first use: scored, or skipped with a reason
    assert ("SPICE" in out["scores"]) != ("SPICE" in out["skipped"])
