"""The benchmark script runs end to end (on the tiny model; it is not a timed test)."""

from mlcore.bench import _fmt, naive_caption, run
from mlcore import GenerationParams


def test_bench_runs_and_reports(tiny_blip, images):
    lines = []
    before = tiny_blip.max_batch_size
    out = run(tiny_blip, images=images[:3], batch_sizes=(1, 2), beams=(1, 2), max_length=6, int8=True, bf16=True,
              repeats=1, log=lines.append)
    rows = out["rows"]
    assert len(rows) == 2 * (1 + 2 + 2) and len(lines) == len(rows)
    assert {r["path"] for r in rows} == {"naive fp32 x1", "ours float32", "ours bfloat16",
                                         "ours int8 (dynamic)"}
    for r in rows:
        assert r["img_s"] > 0 and r["ratio"] > 0
    ours = [r for r in rows if r["path"] == "ours float32"]
    assert all(r["same_as_naive"] == 1.0 for r in ours)  # same params -> same captions as the naive path
    assert 0.0 <= [r for r in rows if "int8" in r["path"]][0]["differs_from_fp32"] <= 1.0
    assert "img/s" in _fmt(rows[0])
    assert tiny_blip.max_batch_size == before  # restored


def test_naive_path_matches_captioner(tiny_blip, images):
    p = GenerationParams(num_beams=2, max_length=6, min_length=6)
    assert naive_caption(tiny_blip, images[:2], p) == [r.raw_text for r in tiny_blip.caption(images[:2], p)]
