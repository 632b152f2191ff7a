"""manage.py benchmark --worker-path, the fair benchmark: a plain transformers script at the worker's
dtype and batch against submit + caption_pending_run, in one process, with real rows and storage that
are cleaned up afterwards."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import User
from benchmarks.bench import make_photos
from captions.models import Caption, Image
from monitoring.models import WorkerHeartbeat
from tests.images import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args) -> str:
    out = StringIO()
    call_command("benchmark", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def nothing_left_behind(media_root: str) -> None:
    assert not User.objects.filter(email__startswith="benchmark-").exists()
    assert Image.objects.count() == 0 and Caption.objects.count() == 0
    assert not WorkerHeartbeat.objects.filter(worker_id__startswith="benchmark-").exists()
    assert not (Path(media_root) / "images").exists()


def test_worker_path_times_both_paths_on_the_same_photos(tiny_blip_dir, tmp_path, settings):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(image_bytes("JPEG", color=(250, 0, 0)))
    (folder / "b.png").write_bytes(image_bytes("PNG", color=(0, 250, 0)))
    (folder / "notes.txt").write_text("not a photo")
    out_json = tmp_path / "bench.json"

    out = run("--worker-path", str(folder), "--model", tiny_blip_dir, "--beams", "1,2", "--max-length", "5",
              "--repeats", "2", "--json", str(out_json))

    assert "2 photos from" in out
    for beams in (1, 2):
        assert f"beams={beams}  2 photos  load average " in out
    assert "plain transformers script (same dtype, same batch): median " in out
    assert "ratio whole path / script: x" in out and "CPU-s per image" in out
    assert "seed baseline" not in out  # the strawman only on request
    assert "worker ms per image: submit" in out and "decode" in out and "generate" in out and "record" in out
    figures = json.loads(out_json.read_text())
    assert [row["beams"] for row in figures["rows"]] == [1, 2]
    for row in figures["rows"]:
        assert row["images"] == 2
        script, worker = row["script"], row["worker"]
        assert script["rounds"] == worker["rounds"] == 2
        assert 0 < script["median_img_s"] <= script["best_img_s"]
        assert 0 < worker["median_img_s"] <= worker["best_img_s"]
        assert script["median_cpu_s_per_image"] > 0 and worker["median_cpu_s_per_image"] > 0
        assert row["ratio_median"] == pytest.approx(worker["median_img_s"] / script["median_img_s"])
        assert row["cpu_ratio_median"] == pytest.approx(
            script["median_cpu_s_per_image"] / worker["median_cpu_s_per_image"])
        assert worker["peak_rss_mib"] > 0
        assert row["worker_ms_per_image"]["generate_ms"] > 0
        assert len(row["load_average_before"].split()) == 3
    assert figures["worker"]["dtype"] in ("float32", "bfloat16")
    assert figures["batch"] == settings.CAPTION_BATCH_SIZE
    nothing_left_behind(settings.MEDIA_ROOT)


def test_the_strawman_is_a_labelled_row_never_the_ratio(tiny_blip_dir, tmp_path, settings):
    out_json = tmp_path / "bench.json"
    out = run("--worker-path", "--model", tiny_blip_dir, "--photos", "2", "--beams", "1", "--max-length", "5",
              "--repeats", "1", "--strawman", "--threads", "1", "--json", str(out_json))

    assert "seed baseline: fp32, one image per generate (changes dtype AND batch): median" in out
    row = json.loads(out_json.read_text())["rows"][0]
    assert row["strawman"]["median_img_s"] > 0
    assert row["ratio_median"] == pytest.approx(row["worker"]["median_img_s"] / row["script"]["median_img_s"])
    nothing_left_behind(settings.MEDIA_ROOT)


def test_worker_path_makes_synthetic_photos_without_a_folder(tiny_blip_dir, settings):
    out = run("--worker-path", "--model", tiny_blip_dir, "--photos", "2", "--beams", "1", "--max-length", "5",
              "--repeats", "1")

    assert "2 synthetic JPEG photos (coco: " in out and "beams=1  2 photos" in out
    nothing_left_behind(settings.MEDIA_ROOT)


def test_synthetic_photos_are_photo_sized_jpegs(tmp_path):
    from PIL import Image as PILImage

    paths = make_photos(str(tmp_path), n=6)

    sizes = [PILImage.open(p).size for p in paths]
    assert len({Path(p).read_bytes() for p in paths}) == 6  # distinct bytes: no caption reuse
    assert (640, 480) in sizes and (4000, 3000) in sizes
    assert all(PILImage.open(p).format == "JPEG" for p in paths)


def test_the_photo_sets_are_coco_sized_and_phone_sized(tmp_path):
    from PIL import Image as PILImage

    from benchmarks.bench import COCO_SIZES, PHONE_SIZES

    coco = [PILImage.open(p).size for p in make_photos(str(tmp_path / "coco"), n=4, sizes=COCO_SIZES)]
    phone = [PILImage.open(p).size for p in make_photos(str(tmp_path / "phone"), n=2, sizes=PHONE_SIZES)]

    assert all(max(size) <= 640 for size in coco)
    assert all(w * h >= 12_000_000 for w, h in phone)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--beams", "x"], "--beams takes comma-separated integers"),
        (["--beams", ""], "need positive values"),
        (["--photos", "0"], "need positive values"),
        (["--max-length", "2"], "--max-length: must be between"),
        (["--beams", "1,99"], "--beams: must be between"),
        (["--threads", "0"], "and so does --threads"),
        (["--photo-set", "huge"], "invalid choice"),
    ],
)
def test_bad_options_are_clear_errors(tiny_blip_dir, args, message):
    with pytest.raises(CommandError, match=message):
        run("--worker-path", "--model", tiny_blip_dir, *args)


def test_a_missing_or_empty_folder_is_a_clear_error(tiny_blip_dir, tmp_path):
    with pytest.raises(CommandError, match="is not a folder of photos"):
        run("--worker-path", str(tmp_path / "nope"), "--model", tiny_blip_dir)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CommandError, match="No image files"):
        run("--worker-path", str(tmp_path / "empty"), "--model", tiny_blip_dir)


def test_a_refused_photo_fails_the_run_with_its_reason_and_cleans_up(tiny_blip_dir, tmp_path, settings):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "broken.jpg").write_bytes(image_bytes("JPEG")[:200])

    with pytest.raises(CommandError, match="broken.jpg: .*damaged or truncated"):
        run("--worker-path", str(folder), "--model", tiny_blip_dir, "--beams", "1", "--max-length", "5",
            "--repeats", "1")
    nothing_left_behind(settings.MEDIA_ROOT)
