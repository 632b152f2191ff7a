"""mlcore failures carry a typed kind (mlcore.errors.FailureKind) that a host matches on; the site's
worker maps kinds, never exception class names, and handles typed outcomes (CaptionResult |
CaptionFailure), never duck-typed ones."""

from pathlib import Path

import pytest
from PIL import Image, UnidentifiedImageError

from mlcore import GenerationParams, load_captioner
from mlcore.engines import EngineUnavailable
from mlcore.errors import FailureKind, InvalidParams, ModelLoadError, failure_kind_of
from mlcore.images import ImageLoadError
from mlcore.results import CaptionFailure, CaptionResult
from mlcore.styles import UnknownStyle, UnsupportedStyle

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("error, kind", [
    (ModelLoadError("no such folder", "x"), FailureKind.MODEL_UNAVAILABLE),
    (UnsupportedStyle("m", "style", "tags", {"alt"}), FailureKind.UNSUPPORTED_STYLE),
    (UnknownStyle("haiku"), FailureKind.INVALID_PARAMS),
    (InvalidParams("num_beams", "must be at least 1"), FailureKind.INVALID_PARAMS),
    (EngineUnavailable("openai:http://h/v1#m", {0: "down"}), FailureKind.ENGINE_UNAVAILABLE),
    (ImageLoadError("not an image", "unidentified"), FailureKind.IMAGE_UNREADABLE),
    (UnidentifiedImageError("cannot identify"), FailureKind.IMAGE_UNREADABLE),
    (Image.DecompressionBombError("too many pixels"), FailureKind.IMAGE_UNREADABLE),
    (MemoryError(), FailureKind.MODEL_ERROR),
    (RuntimeError("CUDA error"), FailureKind.MODEL_ERROR),
])
def test_every_failure_has_a_typed_kind(error, kind):
    assert failure_kind_of(error) is kind


def test_caption_isolated_returns_typed_outcomes(tiny_blip_dir, images, fresh_cache):
    cap = load_captioner(tiny_blip_dir, dtype="float32")
    out = cap.caption_isolated([images[0], "not an image", Image.new("RGB", (8, 8))],
                               GenerationParams(num_beams=1, max_length=5, min_length=2))
    assert isinstance(out[0], CaptionResult) and out[0].ok
    assert isinstance(out[1], CaptionFailure) and out[1].kind is FailureKind.MODEL_ERROR
    assert out[1].to_dict()["kind"] == "model_error"
    assert isinstance(out[2], CaptionResult)


def test_the_worker_matches_kinds_not_class_names():
    source = (ROOT / "captions" / "services" / "worker.py").read_text(encoding="utf-8")
    for banned in ('"EmptyCaption"', '"UnidentifiedImageError"', '"EngineUnavailable":', 'getattr(outcome',
                   'getattr(result, "ok"', "_style_refusal", ".members"):
        assert banned not in source, banned
