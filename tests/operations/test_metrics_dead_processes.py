"""/metrics in multiprocess mode: the files of processes that are gone (recycled gunicorn and
django-q workers) are merged into one archive file per type at scrape time: the totals stay the
same, the folder stops growing, and a process still running keeps its own file."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

RECORD = """
import django
django.setup()
from captions import metrics
metrics.observe_caption("tiny", 0.5, 0.9, reused=False)
metrics.observe_failure("tiny", final=True)
"""

SCRAPE = """
import django, os, sys
django.setup()
from monitoring import metrics
body, _ = metrics.exposition(with_database=False)
sys.stdout.write(body.decode())
"""


def run(code: str, env: dict) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def total(body: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines() if line.startswith(name + "{"))


def test_dead_processes_files_are_merged_and_totals_kept(tmp_path):
    folder = tmp_path / "multiproc"
    folder.mkdir()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "captionsite.settings", "VAR_DIR": str(tmp_path / "var"),
           "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    env.pop("DATABASE_URL", None)
    for _ in range(4):  # four processes that recorded and exited (recycled workers)
        run(RECORD, env)
    # One still running: its file stays its own.
    alive = subprocess.Popen([sys.executable, "-c", RECORD + "\nimport time; print('ready', flush=True); time.sleep(60)"],
                             cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert alive.stdout.readline().strip() == "ready"
        before = sorted(path.name for path in folder.glob("counter_*.db"))
        assert len(before) == 5

        body = run(SCRAPE, env)
        assert total(body, "captionsite_captions_total") == 5
        assert total(body, "captionsite_caption_failures_total") == 5
        assert total(body, "captionsite_inference_seconds_count") == 5
        assert total(body, "captionsite_inference_seconds_sum") == 2.5
        for kind in ("counter", "histogram"):
            now = {path.name for path in folder.glob(f"{kind}_*.db")}
            dead = {name for name in before if name != f"counter_{alive.pid}.db"}
            assert not {name.replace("counter_", f"{kind}_") for name in dead} & now  # merged, gone
            assert {f"{kind}_archive.db", f"{kind}_{alive.pid}.db"} <= now

        run(RECORD, env)  # another one comes and goes: merged into the same archive
        body = run(SCRAPE, env)
        assert total(body, "captionsite_captions_total") == 6
        assert total(body, "captionsite_inference_seconds_count") == 6
    finally:
        alive.kill()
        alive.wait()
    body = run(SCRAPE, env)
    assert total(body, "captionsite_captions_total") == 6
    assert {path.name for path in folder.glob("counter_*.db")} == {"counter_archive.db"}
