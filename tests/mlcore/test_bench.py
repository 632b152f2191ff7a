"""The benchmark script runs end to end (on the tiny model; it is not a timed test)."""

from benchmarks.bench import _fmt, naive_caption, run
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


def test_photos_are_read_through_the_one_loader(tiny_blip, tmp_path):
    from PIL import Image

    from benchmarks.bench import load_photos
    from mlcore.images import captioner_target_size

    need = captioner_target_size(tiny_blip)
    Image.new("RGBA", (need * 5, need * 3), (0, 0, 0, 0)).save(tmp_path / "a.png")  # transparent: white
    Image.new("I;16", (need * 2, need * 2), 65535).save(tmp_path / "b.png")  # 16-bit white
    (tmp_path / "notes.txt").write_text("not an image")
    Image.new("L", (need * 50, 2)).save(tmp_path / "c.png")  # refused: extreme aspect
    photos = load_photos(str(tmp_path), tiny_blip)
    assert len(photos) == 2 and all(p.mode == "RGB" for p in photos)
    assert need <= min(photos[0].size) < 2 * need  # reduced to what the processor needs
    assert photos[0].getpixel((0, 0)) == (255, 255, 255) and photos[1].getpixel((0, 0)) == (255, 255, 255)
    assert len(load_photos(str(tmp_path), tiny_blip, limit=1)) == 1
