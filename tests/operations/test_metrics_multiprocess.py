"""One scrape of /metrics reports every gunicorn worker and the qcluster's processes
(PROMETHEUS_MULTIPROC_DIR, which scripts/run.sh sets), behind the metrics token."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str, token: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def total(body: str, name: str, **labels) -> float:
    found = 0.0
    for line in body.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            found += float(line.rsplit(" ", 1)[1])
    return found


def test_run_script_gives_every_process_a_fresh_multiprocess_folder():
    script = (REPO / "scripts" / "run.sh").read_text()
    setup = script.index("export PROMETHEUS_MULTIPROC_DIR")
    assert setup < script.index("gunicorn captionsite.") and setup < script.index("manage.py qcluster")
    assert "$VAR_DIR/prometheus-multiproc" in script
    assert re.search(r"find \"\$PROMETHEUS_MULTIPROC_DIR\" .*-delete", script)


@pytest.mark.slow
def test_one_scrape_adds_up_every_gunicorn_worker_and_the_worker_processes(tmp_path):
    port = free_port()
    multiproc = tmp_path / "metrics"
    multiproc.mkdir()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "captionsite.settings", "VAR_DIR": str(tmp_path / "var"),
           "PROMETHEUS_MULTIPROC_DIR": str(multiproc), "METRICS_TOKEN": "scrape-tok", "LOG_FORMAT": "plain",
           "GUNICORN_WORKERS": "2", "GUNICORN_THREADS": "1", "DEBUG": "false"}
    env.pop("METRICS_ALLOWED_IPS", None)
    # A qcluster process records captions into the shared folder, then exits.
    subprocess.run([sys.executable, "-c", "import django; django.setup(); from captions import metrics; "
                    "[metrics.observe_caption('worker-model', 0.5, 0.9, reused=False) for _ in range(3)]"],
                   cwd=REPO, env=env, check=True, timeout=60)
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "captionsite.asgi:application", "--config", "gunicorn.conf.py",
                            "--bind", f"127.0.0.1:{port}"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if get(base + "/health/live/")[0] == 200:
                    break
            except (urllib.error.URLError, OSError):
                pass
            assert time.monotonic() < deadline and web.poll() is None, "gunicorn did not start"
            time.sleep(0.3)
        for _ in range(29):
            assert get(base + "/health/live/")[0] == 200
        # 30 requests in all, spread over two workers by the kernel; each scrape is served by one.
        pids = set()
        for _ in range(6):
            status, body = get(base + "/metrics", token="scrape-tok")
            assert status == 200
            assert total(body, "captionsite_http_requests_total", view="health-live", status="200") == 30
            assert total(body, "captionsite_captions_total", model="worker-model") == 3
            pids.add(len(list(multiproc.glob("counter_*.db"))))
        assert max(pids) >= 3, "two gunicorn workers and the worker process each wrote their own file"
        # Anonymous scrapes from the same host are refused.
        assert get(base + "/metrics")[0] == 403
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=30)
