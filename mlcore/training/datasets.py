"""Caption datasets as (image_path, caption) records.

Formats (``load_records(path, image_root=None, fmt="auto")``):
* COCO json: {"images": [{"id", "file_name"}], "annotations": [{"image_id", "caption"}]}
* Flickr8k token file: lines ``<file>#<n>\\t<caption>`` (Flickr8k.token.txt)
* a folder with ``captions.csv`` (columns image/file_name/filename and caption/text) or
  ``captions.jsonl`` (one {"image": ..., "caption": ...} object a line); the feedback export
  uses this form.
"""

from __future__ import annotations

import csv
import json
import os
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import NamedTuple

__all__ = [
    "CaptionRecord",
    "load_records",
    "split_records",
    "load_coco",
    "load_flickr",
    "load_table",
    "open_image",
]


class CaptionRecord(NamedTuple):
    image_path: str
    caption: str


def open_image(path: str, *, target_size: int | None = None, max_pixels: int | None = None):
    """The training/evaluation pixels of the image file at ``path``: an RGB PIL image from
    :func:`mlcore.images.load_image` (EXIF orientation, full tonal range, transparency onto white,
    the same pixels the worker serves). ``target_size``: the shorter edge the model needs (see
    :func:`mlcore.images.captioner_target_size`); ``max_pixels`` defaults to
    :data:`mlcore.images.DEFAULT_MAX_PIXELS`. Raises :class:`mlcore.images.ImageLoadError` whose
    message starts with the path."""
    from ..images import DEFAULT_MAX_PIXELS, ImageLoadError, load_image

    try:
        return load_image(path, max_pixels=max_pixels or DEFAULT_MAX_PIXELS, target_size=target_size).image
    except ImageLoadError as error:
        raise ImageLoadError(f"{path}: {error.reason}", error.code) from None


def _join(root: str, name: str) -> str:
    return name if os.path.isabs(name) else os.path.normpath(os.path.join(root, name))


def load_coco(path: str, image_root: str | None = None) -> list[CaptionRecord]:
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    root = image_root or os.path.dirname(os.path.abspath(path))
    files = {img["id"]: img["file_name"] for img in data["images"]}
    return [CaptionRecord(_join(root, files[a["image_id"]]), a["caption"].strip())
            for a in data["annotations"] if a["image_id"] in files]


def load_flickr(path: str, image_root: str | None = None) -> list[CaptionRecord]:
    root = image_root or os.path.join(os.path.dirname(os.path.abspath(path)), "Images")
    if not os.path.isdir(root):
        root = os.path.dirname(os.path.abspath(path))
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if not line.strip():
                continue
            key, sep, caption = line.partition("\t")
            if not sep:
                key, _, caption = line.partition(",")  # captions.txt of the Kaggle variant
                if key == "image":
                    continue
            name = key.split("#")[0].strip()
            out.append(CaptionRecord(_join(root, name), caption.strip()))
    return out


def load_table(folder_or_file: str, image_root: str | None = None) -> list[CaptionRecord]:
    path = folder_or_file
    if os.path.isdir(path):
        for name in ("captions.jsonl", "captions.csv"):
            if os.path.isfile(os.path.join(path, name)):
                path = os.path.join(path, name)
                break
        else:
            raise FileNotFoundError(f"{folder_or_file}: no captions.csv or captions.jsonl")
    root = image_root or os.path.dirname(os.path.abspath(path))
    rows: list[dict] = []
    if path.endswith(".jsonl"):
        with open(path, encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
    else:
        with open(path, encoding="utf-8-sig", newline="") as fh:  # with or without a byte-order mark
            rows = [{key: _csv_cell(value) for key, value in row.items()} for row in csv.DictReader(fh)]
    out = []
    for r in rows:
        img = r.get("image") or r.get("file_name") or r.get("filename") or r.get("image_path")
        cap = r.get("caption") or r.get("text")
        if img and cap:
            out.append(CaptionRecord(_join(root, str(img)), str(cap).strip()))
    return out


# A CSV written for spreadsheets prefixes a cell that starts like a formula with a single quote
# (formula-injection escaping); the text is the cell without it.
_ESCAPED_FORMULA_START = ("'=", "'+", "'-", "'@", "'\t", "'\r", "'\n")


def _csv_cell(value):
    return value[1:] if isinstance(value, str) and value.startswith(_ESCAPED_FORMULA_START) else value


def load_records(path: str, image_root: str | None = None, fmt: str = "auto") -> list[CaptionRecord]:
    """Load records from any supported format (detected from the path when fmt='auto')."""
    if fmt == "auto":
        if os.path.isdir(path):
            fmt = "table"
        elif path.endswith(".json"):
            fmt = "coco"
        elif path.endswith((".csv", ".jsonl")):
            fmt = "table"
        else:
            fmt = "flickr"
    loader = {"coco": load_coco, "flickr": load_flickr, "table": load_table}[fmt]
    return loader(path, image_root)


def split_records(records: Sequence[CaptionRecord], val_fraction: float = 0.1, seed: int = 0
                  ) -> tuple[list[CaptionRecord], list[CaptionRecord]]:
    """Split by image (all captions of an image land on the same side)."""
    by_image: dict[str, list[CaptionRecord]] = defaultdict(list)
    for r in records:
        by_image[r.image_path].append(CaptionRecord(*r))
    images = sorted(by_image)
    random.Random(seed).shuffle(images)
    n_val = int(round(len(images) * val_fraction)) if val_fraction > 0 else 0
    if val_fraction > 0 and len(images) > 1:
        n_val = max(1, min(n_val, len(images) - 1))
    val_imgs = set(images[:n_val])
    train = [r for img in images if img not in val_imgs for r in by_image[img]]
    val = [r for img in images if img in val_imgs for r in by_image[img]]
    return train, val


def as_records(pairs: Iterable[Sequence[str]]) -> list[CaptionRecord]:
    return [CaptionRecord(str(p[0]), str(p[1])) for p in pairs]
