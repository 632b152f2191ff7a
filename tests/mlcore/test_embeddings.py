"""mlcore.embeddings: the real all-MiniLM-L6-v2 (offline package) embeds texts into unit vectors
whose cosine follows meaning."""

import numpy as np
import pytest

from mlcore import embeddings
from mlcore.errors import ModelLoadError

pytestmark = pytest.mark.slow


def test_texts_become_unit_float32_vectors():
    vectors = embeddings.embed(["dog on a beach", "a puppy running along the shore", ""])
    assert vectors.shape == (3, embeddings.DIMENSIONS) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors[:2], axis=1), 1.0, atol=1e-4)
    assert embeddings.embed([]).shape == (0, embeddings.DIMENSIONS)


def test_paraphrases_are_closer_than_unrelated_captions():
    dog, puppy, bus, pasta = embeddings.embed([
        "dog on a beach", "a puppy running along the shore",
        "a red double decker bus on a city street", "a plate of spaghetti with tomato sauce",
    ])
    assert dog @ puppy > 0.5
    assert dog @ puppy > dog @ bus + 0.3 and dog @ puppy > dog @ pasta + 0.3


def test_it_matches_the_sentence_transformers_recipe_batch_for_batch():
    # a batch pads the shorter text: mean pooling over the mask gives each the same vector alone
    texts = ["a cat", "a very long caption about a cat sitting on a red mat in a sunny kitchen"]
    together = embeddings.embed(texts)
    alone = np.stack([embeddings.embed_one(t) for t in texts])
    assert np.allclose(together, alone, atol=1e-5)


def test_bytes_round_trip_and_a_wrong_size_is_refused():
    vector = embeddings.embed_one("a zebra")
    assert np.array_equal(embeddings.from_bytes(embeddings.to_bytes(vector)), vector)
    with pytest.raises(ValueError):
        embeddings.from_bytes(b"\0" * 12)


def test_a_missing_model_folder_is_a_model_load_error(tmp_path):
    with pytest.raises(ModelLoadError):
        embeddings.embed(["x"], tmp_path / "absent")
