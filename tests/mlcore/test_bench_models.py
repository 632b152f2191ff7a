"""The per-model benchmark (benchmarks.bench_models) and the published shapes it builds (benchmarks.bench_shapes).

The shape test builds every registry model on the meta device (no weights allocated) and checks its
parameter count against the publisher's, so the model table in docs/models.md cannot drift from the real
models; the benchmark test runs the whole subprocess path on a tiny shape (not a timed test)."""

import dataclasses
import json

import pytest

from benchmarks.bench_models import bench, main, markdown
from benchmarks.bench_shapes import SHAPES, Shape, published_check
from mlcore.registry import REGISTRY


def test_every_registry_model_has_a_published_shape():
    assert set(SHAPES) == set(REGISTRY)
    for shape in SHAPES.values():
        assert shape.hub_id == REGISTRY[shape.name] and shape.source and shape.published_params > 0


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_shape_parameter_count_matches_the_published_count(name):
    counted, published, rel = published_check(name)
    assert abs(rel) <= 0.03, f"{name}: {counted:,} parameters at the written shape, published {published:,}"


def test_a_wrong_shape_is_caught():
    # three layers fewer in the language model (about 4 % of the parameters): the check must notice
    base = SHAPES["smolvlm-256m"]
    config = json.loads(json.dumps(base.config))
    config["text_config"]["num_hidden_layers"] -= 3
    assert abs(published_check(dataclasses.replace(base, config=config))[2]) > 0.03


TINY = Shape("tiny-blip", "none/tiny-blip", "blip", 2_000_000,
             dict(vision_config=dict(hidden_size=32, intermediate_size=48, num_hidden_layers=1, num_attention_heads=2,
                                     image_size=32, patch_size=8),
                  text_config=dict(vocab_size=30524, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                   intermediate_size=48, max_position_embeddings=64, encoder_hidden_size=32)),
             dict(image_size=32), "test")


def test_bench_measures_a_tiny_shape_end_to_end():
    lines = []
    rows = bench([TINY], dtypes=("float32", "bfloat16"), n_images=2, rounds=1, max_length=5,
                 beam_max_params=10_000_000, timeout_s=300, log=lines.append)
    assert [r["dtype"] for r in rows] == ["float32", "bfloat16"] and len(lines) == 2
    for row in rows:
        assert not row.get("not_measured"), row
        assert row["params"] > 1_000_000  # the 30524-word embedding is in it
        assert [r["beams"] for r in row["runs"]] == [1, 3]
        assert all(r["s_per_image"] > 0 and r["tokens_per_s"] > 0 for r in row["runs"])
        assert 100 < row["peak_rss_mib"] < 4096 and row["load_s"] >= 0
    table = markdown(rows)
    assert table.count("| tiny-blip |") == 2 and "GiB" in table


def test_bench_lists_what_it_does_not_measure_with_the_reason():
    rows = bench([TINY], dtypes=("float32",), max_weights_gib=0.001, log=lambda s: None)
    assert "weights alone are" in rows[0]["not_measured"] and rows[0]["weights_gib"] >= 0
    assert "not measured" in markdown(rows)


def test_cli_rejects_unknown_models_and_dtypes():
    with pytest.raises(SystemExit):
        main(["--models", "no-such-model"])
    with pytest.raises(SystemExit):
        main(["--models", "blip-base", "--dtypes", "float8"])
