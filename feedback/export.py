"""The feedback data set as a file: JSON Lines, CSV or COCO captions JSON, one file with a split
field. Used by `manage.py export_feedback`, the admin action and the fine-tuning run."""

import json
from pathlib import Path

from core.spreadsheet import csv_text
from feedback.selectors import TrainingExample

FORMATS = ("jsonl", "csv", "coco")
CONTENT_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv", "coco": "application/json"}
CSV_FIELDS = ["image", "caption", "split", "source", "sha256", "file", "width", "height"]


def _row(example: TrainingExample) -> dict:
    return {
        "image": example.path,
        "caption": example.caption,
        "split": example.split,
        "source": example.source,
        "sha256": example.sha256,
        "file": example.file,
        "width": example.width,
        "height": example.height,
    }


def dataset_text(examples: list[TrainingExample], fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"Unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")
    if fmt == "jsonl":
        return "".join(json.dumps(_row(e), ensure_ascii=False) + "\n" for e in examples)
    if fmt == "csv":  # captions are user text: cells escaped against formula injection
        return csv_text(CSV_FIELDS, (_row(e) for e in examples))
    return json.dumps(_coco(examples), ensure_ascii=False, indent=1)


def _coco(examples: list[TrainingExample]) -> dict:
    """COCO captions layout (images + annotations), each image with its split, as in the
    Karpathy split files."""
    images: dict[int, dict] = {}
    annotations = []
    for example in examples:
        images.setdefault(
            example.image_id,
            {
                "id": example.image_id,
                "file_name": example.path,
                "width": example.width,
                "height": example.height,
                "sha256": example.sha256,
                "split": example.split,
            },
        )
        annotations.append(
            {"id": len(annotations) + 1, "image_id": example.image_id, "caption": example.caption, "source": example.source}
        )
    return {
        "info": {"description": "captionsite feedback export"},
        "images": list(images.values()),
        "annotations": annotations,
    }


def dataset_write(examples: list[TrainingExample], fmt: str, out: str | Path) -> Path:
    out = Path(out)
    text = dataset_text(examples, fmt)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out
