"""manage.py export_feedback: the best caption of each judged image, three formats, and a split
that never puts one image on both sides."""

import csv
import json

import pytest
from django.core.management import CommandError, call_command

from feedback import services
from feedback.models import Feedback
from feedback.selectors import split_of
from tests.images import image_bytes

pytestmark = pytest.mark.django_db


def export(tmp_path, fmt="jsonl", *args) -> str:
    out = tmp_path / f"data.{fmt}"
    call_command("export_feedback", "--format", fmt, "--out", str(out), *args)
    return out.read_text()


def jsonl_rows(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def judged(owner, reviewer, captioned):
    """One image of each kind of evidence, plus ones that must not be exported."""
    edited = captioned(owner, text="model words", confidence=0.1)
    services.caption_edit(caption=edited, reviewer=owner, text="a red kite over a field")
    corrected = captioned(owner, text="a cat", confidence=0.3)
    Feedback.objects.create(user=reviewer, caption=corrected, rating=2, corrected_caption="a black cat asleep")
    Feedback.objects.create(user=owner, caption=corrected, rating=5)  # a correction outranks a rating
    approved = captioned(owner, text="two horses in snow", confidence=0.2)
    services.caption_approve(caption=approved, reviewer=reviewer)
    rated = captioned(owner, text="a bowl of soup", confidence=0.6)
    Feedback.objects.create(user=owner, caption=rated, rating=4)
    low_rated = captioned(owner, text="a blurry thing", confidence=0.6)
    Feedback.objects.create(user=owner, caption=low_rated, rating=3)
    captioned(owner, text="never judged", confidence=0.9)
    return {"edited": edited, "corrected": corrected, "approved": approved, "rated": rated, "low_rated": low_rated}


def test_jsonl_has_the_best_caption_of_each_judged_image(tmp_path, judged):
    rows = jsonl_rows(export(tmp_path, "jsonl"))
    by_caption = {r["caption"]: r for r in rows}
    assert set(by_caption) == {"a red kite over a field", "a black cat asleep", "two horses in snow", "a bowl of soup"}
    assert {r["caption"]: r["source"] for r in rows} == {
        "a red kite over a field": "human",
        "a black cat asleep": "human",
        "two horses in snow": "approved",
        "a bowl of soup": "rated",
    }
    kite = by_caption["a red kite over a field"]
    image = judged["edited"].image
    assert kite["sha256"] == image.sha256 and kite["file"] == image.file.name
    assert kite["image"].endswith(image.file.name) and kite["split"] in ("train", "val")
    with open(kite["image"], "rb") as handle:  # the path points at the stored image
        assert handle.read(2) == b"\xff\xd8"


def test_min_rating_decides_which_rated_captions_count(tmp_path, judged):
    captions = {r["caption"] for r in jsonl_rows(export(tmp_path, "jsonl", "--min-rating", "3"))}
    assert "a blurry thing" in captions and "a bowl of soup" in captions
    captions = {r["caption"] for r in jsonl_rows(export(tmp_path, "jsonl", "--min-rating", "5"))}
    assert "a blurry thing" not in captions and "a bowl of soup" not in captions


def test_csv_and_coco_carry_the_same_examples(tmp_path, judged):
    expected = {(r["caption"], r["sha256"], r["split"]) for r in jsonl_rows(export(tmp_path, "jsonl"))}

    rows = list(csv.DictReader(export(tmp_path, "csv").splitlines()))
    assert {(r["caption"], r["sha256"], r["split"]) for r in rows} == expected

    coco = json.loads(export(tmp_path, "coco"))
    images = {i["id"]: i for i in coco["images"]}
    assert {(a["caption"], images[a["image_id"]]["sha256"], images[a["image_id"]]["split"]) for a in coco["annotations"]} == expected
    assert len({a["id"] for a in coco["annotations"]}) == len(coco["annotations"])
    assert all(set(i) >= {"id", "file_name", "width", "height", "split"} for i in images.values())


def test_split_keeps_every_caption_of_an_image_and_its_copies_on_one_side(tmp_path, owner, reviewer, make_user, captioned):
    third = make_user("third@example.com")
    shared_bytes = image_bytes("JPEG", size=(40, 40), color=(5, 99, 200))
    twin_a = captioned(owner, text="a twin", confidence=0.1, data=shared_bytes)
    twin_b = captioned(reviewer, text="another twin", confidence=0.1, data=shared_bytes)
    for user, text in [(owner, "first person's words"), (reviewer, "second person's words"), (third, "third words")]:
        Feedback.objects.create(user=user, caption=twin_a, rating=2, corrected_caption=text)
    Feedback.objects.create(user=owner, caption=twin_b, rating=1, corrected_caption="twin b fixed")
    for n in range(30):
        caption = captioned(owner, text=f"caption {n}", confidence=0.3)
        Feedback.objects.create(user=owner, caption=caption, rating=5)
        Feedback.objects.create(user=reviewer, caption=caption, rating=2, corrected_caption=f"fixed {n}")
        Feedback.objects.create(user=third, caption=caption, rating=2, corrected_caption=f"mended {n}")

    rows = jsonl_rows(export(tmp_path, "jsonl", "--val-fraction", "0.3"))
    sides: dict[str, set[str]] = {}
    for row in rows:
        sides.setdefault(row["sha256"], set()).add(row["split"])
    assert all(len(s) == 1 for s in sides.values())
    assert {r["split"] for r in rows if r["caption"].endswith("twin b fixed") or "person" in r["caption"]} == {
        split_of(twin_a.image.sha256, 0.3)
    }
    splits = [s.pop() for s in sides.values()]
    assert 0 < splits.count("val") < len(splits)  # both sides are used
    # Deterministic: the same data gives the same file.
    assert export(tmp_path, "jsonl", "--val-fraction", "0.3") == "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("export_feedback", "--format", "xml", "--out", str(tmp_path / "x"))
    with pytest.raises(CommandError, match="min-rating"):
        call_command("export_feedback", "--min-rating", "9", "--out", str(tmp_path / "x"))
    with pytest.raises(CommandError, match="--out"):
        call_command("export_feedback")
