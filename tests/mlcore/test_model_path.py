"""benchmarks.model_path: the product's captioner against a plain transformers script at the same
dtype and batch, without the site (what scripts/gpu_bench.sh runs on a GPU host)."""

import json

import pytest

from benchmarks.model_path import main


@pytest.mark.slow
def test_script_and_captioner_are_timed_on_the_same_photos(tiny_blip_dir, tmp_path, capsys):
    out_json = tmp_path / "model_path.json"

    assert main(["--model", tiny_blip_dir, "--batches", "2,4", "--beams", "1,2", "--photos", "4", "--rounds", "2",
                 "--max-length", "5", "--dtype", "float32", "--threads", "1", "--json", str(out_json)]) == 0

    printed = capsys.readouterr().out
    assert "batch   2 beams 1: script " in printed and "batch   4 beams 2: script " in printed
    rows = json.loads(out_json.read_text())["rows"]
    assert [(r["batch"], r["beams"]) for r in rows] == [(2, 1), (2, 2), (4, 1), (4, 2)]
    for row in rows:
        assert row["images"] == 4 and row["dtype"] == "float32"
        for side in ("script", "product"):
            assert 0 < row[side]["median_img_s"] <= row[side]["best_img_s"]
            assert row[side]["median_cpu_s_per_image"] > 0
        assert abs(row["ratio_median"] - row["product"]["median_img_s"] / row["script"]["median_img_s"]) < 1e-9
