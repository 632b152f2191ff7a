"""The operator's commands: caption_folder, evaluate, benchmark."""

import csv
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from monitoring.models import EvaluationRun
from tests.images import image_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def photo_folder(tmp_path) -> Path:
    folder = tmp_path / "photos"
    (folder / "trip").mkdir(parents=True)
    (folder / "red.jpg").write_bytes(image_bytes("JPEG", color=(250, 0, 0)))
    (folder / "green.png").write_bytes(image_bytes("PNG", color=(0, 250, 0)))
    (folder / "trip" / "blue.webp").write_bytes(image_bytes("WEBP", color=(0, 0, 250)))
    (folder / "notes.txt").write_text("not an image")
    (folder / "broken.jpg").write_bytes(image_bytes("JPEG")[:200])
    (folder / ".hidden.jpg").write_bytes(image_bytes("JPEG"))
    return folder


def run(*args, **options) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def read_csv(path: Path) -> dict[str, dict]:
    with path.open(newline="") as handle:
        return {row["file"]: row for row in csv.DictReader(handle)}


def test_caption_folder_captions_images_and_lists_the_rest_with_a_reason(photo_folder, tmp_path, tiny_blip_dir):
    out = tmp_path / "captions.csv"
    summary = run("caption_folder", str(photo_folder), "--out", str(out), "--model", tiny_blip_dir, "--batch-size", "2",
                  "--params", "num_beams=1,max_length=12")

    rows = read_csv(out)
    assert sorted(rows) == ["broken.jpg", "green.png", "notes.txt", "red.jpg", "trip/blue.webp"]
    for name in ("red.jpg", "green.png", "trip/blue.webp"):
        assert rows[name]["status"] == "ok"
        assert rows[name]["caption"].strip()
        assert 0 <= float(rows[name]["confidence"]) <= 1
        assert rows[name]["model_id"]
    assert rows["notes.txt"]["status"] == "skipped"
    assert "Not a supported image" in rows["notes.txt"]["reason"]
    assert rows["broken.jpg"]["status"] == "skipped"
    assert "damaged or truncated" in rows["broken.jpg"]["reason"]
    assert "3 captioned, 2 skipped" in summary


def test_caption_folder_resumes_where_it_stopped(photo_folder, tmp_path, tiny_blip_dir):
    out = tmp_path / "captions.jsonl"
    # An interrupted run: one file done, then half a line written when it was killed.
    out.write_text(json.dumps({"file": "red.jpg", "status": "ok", "caption": "FROM THE FIRST RUN"}) + '\n{"file": "gre')

    summary = run("caption_folder", str(photo_folder), "--out", str(out), "--model", tiny_blip_dir,
                  "--params", "num_beams=1,max_length=12")

    rows = [json.loads(line) for line in out.read_text().splitlines()]
    by_file = {row["file"]: row for row in rows}
    assert len(rows) == 5 and len(by_file) == 5
    assert by_file["red.jpg"]["caption"] == "FROM THE FIRST RUN"
    assert by_file["green.png"]["status"] == "ok"
    assert "Resuming: 1 of 5" in summary

    again = run("caption_folder", str(photo_folder), "--out", str(out), "--model", tiny_blip_dir)
    assert "Nothing to do" in again
    assert len(out.read_text().splitlines()) == 5


def test_caption_folder_reports_an_image_with_no_words_as_failed(photo_folder, tmp_path, tiny_blip_dir, monkeypatch):
    """The real tiny BLIP, as a subclass whose decoding leaves no words for the red image (a tags
    answer with nothing usable does the same): a failed row with the reason, exit status 1, and the
    next run tries that file again."""
    import mlcore

    captioner = mlcore.load_captioner(tiny_blip_dir)
    base = type(captioner)

    class Blank(base):
        def caption(self, images, params=None):
            results = super().caption(images, params)
            for image, result in zip(images, results, strict=True):
                if image.convert("RGB").getpixel((5, 5))[0] > 200:
                    result.text = ""
                    result.details["error"] = "the model produced no words for this image"
            return results

    monkeypatch.setattr(captioner, "__class__", Blank)
    out = tmp_path / "captions.jsonl"
    with pytest.raises(CommandError, match="2 captioned, 2 skipped.*1 failed"):
        run("caption_folder", str(photo_folder), "--out", str(out), "--model", tiny_blip_dir,
            "--params", "num_beams=1,max_length=12")
    rows = {row["file"]: row for row in map(json.loads, out.read_text().splitlines())}
    assert rows["red.jpg"]["status"] == "failed" and rows["red.jpg"]["caption"] == ""
    assert "no words" in rows["red.jpg"]["reason"]
    assert rows["green.png"]["status"] == "ok"

    monkeypatch.setattr(captioner, "__class__", base)  # the model now answers: the failed file is retried
    again = run("caption_folder", str(photo_folder), "--out", str(out), "--model", tiny_blip_dir,
                "--params", "num_beams=1,max_length=12")
    assert "1 captioned, 0 skipped" in again
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 5 and {r["file"]: r for r in rows}["red.jpg"]["status"] == "ok"


def test_caption_folder_writes_a_json_list(photo_folder, tmp_path, tiny_blip_dir):
    out = tmp_path / "out" / "captions.json"
    run("caption_folder", str(photo_folder), "--out", str(out), "--model", tiny_blip_dir, "--no-recursive",
        "--params", "num_beams=2,max_length=12")
    rows = json.loads(out.read_text())
    assert {row["file"] for row in rows} == {"red.jpg", "green.png", "notes.txt", "broken.jpg"}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--out", "captions.txt"], "must end in .csv, .json or .jsonl"),
        (["--out", "c.csv", "--params", "num_beams=0"], "num_beams"),
        (["--out", "c.csv", "--params", "colour=red"], "unknown generation parameter"),
        (["--out", "c.csv", "--model", "/no/such/model"], "/no/such/model"),
    ],
)
def test_caption_folder_explains_bad_arguments(photo_folder, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CommandError, match=message):
        run("caption_folder", str(photo_folder), *args)


def test_caption_folder_refuses_a_missing_folder(tmp_path):
    with pytest.raises(CommandError, match="is not a folder"):
        run("caption_folder", str(tmp_path / "nope"), "--out", str(tmp_path / "c.csv"))


@pytest.fixture
def coco(tmp_path) -> tuple[Path, Path]:
    images = tmp_path / "val"
    images.mkdir()
    colors = [(250, 0, 0), (0, 250, 0), (0, 0, 250)]
    for index, color in enumerate(colors, start=1):
        (images / f"{index}.jpg").write_bytes(image_bytes("JPEG", color=color))
    annotations = tmp_path / "coco_val.json"
    annotations.write_text(json.dumps({
        "images": [{"id": i, "file_name": f"{i}.jpg"} for i in (1, 2, 3)],
        "annotations": [
            {"id": 10, "image_id": 1, "caption": "a red square"},
            {"id": 11, "image_id": 1, "caption": "a red picture"},
            {"id": 20, "image_id": 2, "caption": "a green square"},
            {"id": 30, "image_id": 3, "caption": "a blue square"},
        ],
    }))
    return annotations, images


@pytest.mark.slow
def test_evaluate_stores_a_run_with_scores_and_the_per_image_captions(coco, tiny_blip_dir, settings, tmp_path):
    annotations, images = coco
    output = run("evaluate", "--model", tiny_blip_dir, "--annotations", str(annotations), "--images", str(images),
                 "--limit", "2", "--params", '{"num_beams": 2}')

    run_row = EvaluationRun.objects.get()
    assert run_row.status == EvaluationRun.Status.DONE
    assert run_row.dataset == "coco_val"
    assert run_row.image_count == 2
    assert run_row.model_spec == tiny_blip_dir
    assert run_row.model_id
    assert run_row.params["num_beams"] == 2
    assert {"Bleu_1", "Bleu_4", "ROUGE_L", "CIDEr"} <= set(run_row.scores)
    assert all(isinstance(v, float) for v in run_row.scores.values())
    stored = json.loads(Path(settings.MEDIA_ROOT, run_row.captions_file.name).read_text())
    assert [item["file_name"] for item in stored["per_image"]] == ["1.jpg", "2.jpg"]
    assert stored["per_image"][0]["references"] == ["a red square", "a red picture"]
    assert f"EvaluationRun #{run_row.pk}" in output


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda a, i, t: ["--annotations", str(t / "missing.json"), "--images", str(i)], "does not exist"),
        (lambda a, i, t: ["--annotations", str(a), "--images", str(t / "nope")], "is not a folder"),
        (lambda a, i, t: ["--annotations", str(a), "--images", str(i), "--limit", "0"], "--limit"),
        (lambda a, i, t: ["--annotations", str(t / "bad.json"), "--images", str(i)], "not valid JSON"),
        (lambda a, i, t: ["--annotations", str(t / "list.json"), "--images", str(i)], "not a COCO captions file"),
        (lambda a, i, t: ["--annotations", str(a), "--images", str(i), "--model", "/no/such/model"], "/no/such/model"),
    ],
)
def test_evaluate_refuses_bad_input_without_storing_a_run(coco, tmp_path, make_args, message):
    annotations, images = coco
    (tmp_path / "bad.json").write_text("{nope")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(CommandError, match=message):
        run("evaluate", *make_args(annotations, images, tmp_path))
    assert not EvaluationRun.objects.exists()


def test_an_evaluation_that_breaks_midway_is_recorded_as_failed(coco, tiny_blip_dir):
    annotations, images = coco
    (images / "2.jpg").unlink()
    with pytest.raises(CommandError, match="The evaluation failed"):
        run("evaluate", "--model", tiny_blip_dir, "--annotations", str(annotations), "--images", str(images))
    failed = EvaluationRun.objects.get()
    assert failed.status == EvaluationRun.Status.FAILED
    assert "2.jpg" in failed.error
    assert failed.scores == {}


def test_benchmark_runs_mlcore_bench():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "manage.py", "benchmark", "--help-bench"], cwd=Path(__file__).resolve().parents[2],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "-m benchmarks.bench --help" in result.stderr
    assert "--batch-sizes" in result.stdout


@pytest.mark.slow
def test_benchmark_measures_the_given_model(tiny_blip_dir, tmp_path):
    import subprocess
    import sys

    report = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "manage.py", "benchmark", "--model", tiny_blip_dir, "--device", "cpu", "--",
         "--images", "1", "--batch-sizes", "1", "--beams", "1", "--repeats", "1", "--json", str(report)],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "img/s" in result.stdout
    assert report.exists() and json.loads(report.read_text())


def test_metrics_exporter_serves_a_worker_hosts_metric_files(tmp_path):
    """On a worker host without a web server: the files of its processes, behind the same token."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "captionsite.settings", "VAR_DIR": str(tmp_path / "var"),
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"), "METRICS_TOKEN": "tok", "METRICS_ALLOWED_IPS": ""}
    # A "worker process" records a caption into the shared folder, then exits.
    subprocess.run([sys.executable, "-c", "import django; django.setup(); from captions import metrics; "
                    "metrics.observe_caption('m1', 0.5, 0.9, reused=False)"],
                   cwd=repo, env=env, check=True, timeout=60)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    exporter = subprocess.Popen([sys.executable, "manage.py", "metrics_exporter", "--addr", "127.0.0.1", "--port", str(port)],
                                cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url, timeout=5)
            except urllib.error.HTTPError as error:
                assert error.code == 403
                break
            except urllib.error.URLError:
                assert time.monotonic() < deadline and exporter.poll() is None, exporter.stdout.read().decode()
                time.sleep(0.2)
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": "Bearer tok"}), timeout=5) as response:
            body = response.read().decode()
        assert 'captionsite_captions_total{model="m1",source="model"} 1.0' in body
        assert "captionsite_images" not in body  # the queue depth is the web server's (one database, one source)
    finally:
        os.killpg(exporter.pid, signal.SIGTERM)
        exporter.wait(timeout=20)


def test_metrics_exporter_needs_the_multiprocess_folder(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    result = subprocess.run([sys.executable, "manage.py", "metrics_exporter"], cwd=Path(__file__).resolve().parents[2],
                            env={**env, "VAR_DIR": str(tmp_path)}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "Set PROMETHEUS_MULTIPROC_DIR" in result.stderr


def test_caption_folder_reports_alt_text_embedded_in_files_and_escapes_formulas(tmp_path, tiny_blip_dir):
    import pyexiv2

    folder = tmp_path / "in"
    folder.mkdir()
    with pyexiv2.ImageData(image_bytes("JPEG")) as editor:
        editor.modify_xmp({"Xmp.iptc.AltTextAccessibility": {'lang="x-default"': "Ein Leuchtturm bei Nacht"}})
        (folder / "=lighthouse.jpg").write_bytes(editor.get_bytes())
    with pyexiv2.ImageData(image_bytes("JPEG", color=(1, 2, 3))) as editor:
        editor.modify_exif({"Exif.Image.ImageDescription": "OLYMPUS DIGITAL CAMERA"})
        (folder / "camera.jpg").write_bytes(editor.get_bytes())
    out = tmp_path / "captions.csv"
    run("caption_folder", str(folder), "--out", str(out), "--model", tiny_blip_dir, "--params", "num_beams=1,max_length=8")

    rows = read_csv(out)
    assert sorted(rows) == ["'=lighthouse.jpg", "camera.jpg"]  # no formula runs in a spreadsheet
    assert rows["'=lighthouse.jpg"]["file_alt_text"] == "Ein Leuchtturm bei Nacht"
    assert rows["'=lighthouse.jpg"]["file_alt_text_field"] == "IPTC Alt Text (Accessibility)"
    assert rows["camera.jpg"]["file_alt_text"] == ""  # camera boilerplate is not alt text
    again = run("caption_folder", str(folder), "--out", str(out), "--model", tiny_blip_dir)
    assert "Nothing to do" in again  # the escaped name is recognised when resuming
