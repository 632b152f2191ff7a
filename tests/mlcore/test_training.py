import csv
import json
import os

import pytest
from PIL import Image, ImageDraw

from mlcore import GenerationParams, ModelLoadError, load_captioner, resolve_spec
from mlcore.predictors.custom import InHouseCaptioner, WordVocab, tiny_inhouse_config
from mlcore.training import finetune_hf, load_records, split_records, train_inhouse

SHAPES = [("red", (220, 30, 30), "rectangle", "square"), ("blue", (30, 30, 220), "ellipse", "circle"),
          ("green", (30, 200, 30), "rectangle", "square"), ("yellow", (230, 230, 20), "ellipse", "circle")]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    d = tmp_path_factory.mktemp("synthetic")
    recs = []
    for i, (name, col, shape, word) in enumerate(SHAPES):
        im = Image.new("RGB", (64, 64), (128, 128, 128))
        getattr(ImageDraw.Draw(im), shape)([12, 12, 52, 52], fill=col)
        path = d / f"{i}.png"
        im.save(path)
        recs.append((str(path), f"a {name} {word} on a grey background"))
    return d, recs


def test_dataset_formats(synthetic, tmp_path):
    d, recs = synthetic
    names = [os.path.basename(p) for p, _ in recs]
    coco = {"images": [{"id": i, "file_name": n} for i, n in enumerate(names)],
            "annotations": [{"id": 100 + i, "image_id": i, "caption": c} for i, (_, c) in enumerate(recs)]}
    (d / "coco.json").write_text(json.dumps(coco))
    (d / "Flickr8k.token.txt").write_text("".join(f"{n}#0\t{c}\n{n}#1\t{c} again\n" for n, (_, c) in zip(names, recs, strict=False)))
    with open(d / "captions.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "caption"])
        w.writerows([(n, c) for n, (_, c) in zip(names, recs, strict=False)])
    jl = tmp_path / "export"
    jl.mkdir()
    (jl / "captions.jsonl").write_text("".join(json.dumps({"image": p, "caption": c}) + "\n" for p, c in recs))

    expected = [(os.path.normpath(p), c) for p, c in recs]
    assert [tuple(r) for r in load_records(str(d / "coco.json"))] == expected
    assert [tuple(r) for r in load_records(str(d / "captions.csv"))] == expected
    assert [tuple(r) for r in load_records(str(jl))] == expected  # folder with captions.jsonl
    flickr = load_records(str(d / "Flickr8k.token.txt"))
    assert len(flickr) == 8 and flickr[1].caption.endswith("again") and flickr[0].image_path == expected[0][0]

    train, val = split_records(flickr, val_fraction=0.25, seed=1)
    assert len(train) == 6 and len(val) == 2
    assert {r.image_path for r in train}.isdisjoint({r.image_path for r in val})  # split by image


def test_vocab():
    v = WordVocab.build(["A dog on grass.", "a dog"], min_freq=1)
    assert v.itos[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"] and v.itos[4] in ("a", "dog")
    ids = v.encode("a dog on the moon", 10)
    assert ids[0] == 1 and ids[-1] == 2 and 3 in ids  # unknown words -> <unk>
    assert v.decode(v.encode("a dog on grass.", 10)) == "a dog on grass."


@pytest.mark.slow
def test_inhouse_learns_its_captions_and_resumes(synthetic, tmp_path):
    _, recs = synthetic
    out = tmp_path / "ckpt"
    res = train_inhouse(recs, recs[:2], str(out), epochs=10, config=tiny_inhouse_config(), batch_size=4, lr=3e-3,
                        progress=False)
    assert res["losses"]["train"][-1] < res["losses"]["train"][0] / 10
    assert res["metrics"]["best_val_loss"] is not None and len(res["losses"]["val"]) == 10
    # resume: asking for more epochs continues from epoch 14, not from scratch
    res = train_inhouse(recs, recs[:2], str(out), epochs=16, config=tiny_inhouse_config(), batch_size=4, lr=3e-3,
                        progress=False)
    assert len(res["losses"]["train"]) == 16

    assert resolve_spec(str(out)).kind == "inhouse"  # recognised by its marker file
    cap = load_captioner(f"inhouse:{out}")
    assert isinstance(cap, InHouseCaptioner)
    images = [Image.open(p).convert("RGB") for p, _ in recs]
    expected = [c[0].upper() + c[1:] + "." for _, c in recs]
    greedy = cap.caption(images, GenerationParams(num_beams=1, min_length=0, repetition_penalty=1.0))
    assert [r.text for r in greedy] == expected
    beam = cap.caption(images, GenerationParams(num_beams=3, num_alternatives=2, min_length=0,
                                                repetition_penalty=1.0))
    assert [r.text for r in beam] == expected
    assert all(r.confidence > 0.5 for r in beam)
    assert all(len(r.candidates) <= 2 for r in beam)
    sampled = cap.caption(images[:2], GenerationParams(do_sample=True, num_beams=1, num_alternatives=3,
                                                       temperature=0.5, max_length=12))
    assert len(sampled) == 2


def test_inhouse_bad_checkpoint(tmp_path):
    with pytest.raises(ModelLoadError):
        load_captioner(f"inhouse:{tmp_path}")


@pytest.mark.slow
def test_finetune_blip(tiny_blip_dir, synthetic, tmp_path, fresh_cache):
    _, recs = synthetic
    out = tmp_path / "ft"
    res = finetune_hf(tiny_blip_dir, recs, recs[:2], str(out), epochs=8, batch_size=4, lr=1e-3, progress=False)
    losses = res["losses"]["train"]
    assert len(losses) == 8 and losses[-1] < losses[0]
    assert res["metrics"]["val_loss"] is not None and "val_bleu4" in res["metrics"]
    cap = load_captioner(str(out))
    assert cap.model_version != load_captioner(tiny_blip_dir).model_version
    assert len(cap.caption([Image.open(recs[0][0])], GenerationParams(max_length=10))) == 1


@pytest.mark.slow
def test_finetune_checkpoints_accumulation_and_resume(tiny_blip_dir, synthetic, tmp_path, fresh_cache):
    """The Trainer's checkpoints (one per epoch, the last two kept), gradient accumulation, and a run
    that continues from its latest checkpoint instead of starting again."""
    import os

    _, recs = synthetic
    out = tmp_path / "ft"
    first = finetune_hf(tiny_blip_dir, recs, (), str(out), epochs=3, batch_size=2, grad_accum=2, lr=1e-3,
                        progress=False, checkpoints=True)
    assert len(first["losses"]["train"]) == 3 and first["losses"]["val"] == []
    kept = sorted(os.listdir(out / "checkpoints"))
    assert len(kept) == 2 and all(k.startswith("checkpoint-") for k in kept)
    more = finetune_hf(tiny_blip_dir, recs, recs[:2], str(out), epochs=4, batch_size=2, grad_accum=2, lr=1e-3,
                       progress=False, checkpoints=True, resume=True)
    # epochs 1-3 come from the checkpoint; only the fourth was trained (and validated) now
    assert more["losses"]["train"][:3] == pytest.approx(first["losses"]["train"]) and len(more["losses"]["train"]) == 4
    assert len(more["losses"]["val"]) == 1
    assert load_captioner(str(out)).caption([Image.open(recs[0][0])], GenerationParams(max_length=6))
