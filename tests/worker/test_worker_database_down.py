"""A qcluster whose PostgreSQL is unreachable takes no task off the shared Redis broker (it would
fail every one); a worker with a healthy database takes them."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_python(code: str, env: dict) -> str:
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()\n" + code], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


def queue_size(env: dict) -> int:
    return int(run_python("from django_q.brokers import get_broker; print(get_broker().queue_size())", env))


def wait_for(condition, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}:\n{log.read_text()[-4000:]}"
        time.sleep(0.5)


def start_qcluster(env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=REPO, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def test_a_worker_without_its_database_leaves_the_tasks_on_the_broker(tmp_path):
    redis_port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--dir", str(tmp_path)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    healthy_db = f"sqlite:///{tmp_path / 'healthy.sqlite3'}"
    base = {**os.environ, "DJANGO_SETTINGS_MODULE": "captionsite.test_settings", "VAR_DIR": str(tmp_path / "var"),
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "Q_CLUSTER_NAME": f"dbdown-{os.getpid()}",
            "Q_WORKERS": "1", "LOG_FORMAT": "plain", "HF_HUB_OFFLINE": "1"}
    base.pop("PROMETHEUS_MULTIPROC_DIR", None)
    broken = {**base, "DATABASE_URL": f"postgres://nobody:secret@127.0.0.1:{free_port()}/captionsite"}
    healthy = {**base, "DATABASE_URL": healthy_db}
    workers = []
    try:
        run_python("from django.core.management import call_command; call_command('migrate', verbosity=0)", healthy)
        run_python("from django_q.tasks import async_task\n"
                   "for n in range(3): async_task('math.floor', n + 0.5)", healthy)
        assert queue_size(healthy) == 3

        broken_log = tmp_path / "broken-qcluster.log"
        workers.append(start_qcluster(broken, broken_log))
        wait_for(lambda: "database is unreachable" in broken_log.read_text(), 90,
                 "the worker did not notice its database is down", broken_log)
        time.sleep(8)  # several pulls' worth of time
        assert workers[0].poll() is None, broken_log.read_text()[-3000:]
        assert queue_size(healthy) == 3, broken_log.read_text()[-3000:]

        healthy_log = tmp_path / "healthy-qcluster.log"
        workers.append(start_qcluster(healthy, healthy_log))
        wait_for(lambda: queue_size(healthy) == 0, 90, "the healthy worker did not take the tasks", healthy_log)
        wait_for(lambda: run_python("from django_q.models import Success; print(Success.objects.count())",
                                    healthy) == "3", 60, "the tasks did not succeed", healthy_log)
    finally:
        for worker in workers:
            stop(worker)
        redis.terminate()
        redis.wait(timeout=20)
