"""Peak memory growth of one gunicorn web worker per upload request.

Starts the site under gunicorn (the project's gunicorn.conf.py, one worker, one thread) on a free
port with a throw-away VAR_DIR, warms the worker up with one small upload, then sends one request
and samples the worker's RSS (psutil, every 5 ms) until the answer arrives. A fresh server is
started for each scenario so that one does not inherit another's heap:

  1 PNG   one 6000x6000 RGB PNG (a smooth gradient: a few hundred KiB on the wire)
  8 PNG   eight of them in one request (/api/v1/images/)
  zip     a ~500 KiB .zip of 50 members of 10 MiB of zeros each (/api/v1/batches/)

Prints the peak RSS growth over the warmed-up worker's RSS (MiB), what the worker kept after the
request, and the ratio 8/1 (the target is <= 1.5). Not a test: numbers depend on the machine.

    .venv/bin/python scripts/bench_upload_memory.py [--size 6000] [--count 8]
"""

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zipfile
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def gradient_png(size: int, seed: int) -> bytes:
    """A smooth RGB gradient: every pixel differs from its neighbours, yet it compresses well."""
    from PIL import Image

    horizontal = Image.linear_gradient("L").rotate(90).resize((size, size))
    vertical = Image.linear_gradient("L").resize((size, size))
    blue = Image.new("L", (size, size), (seed * 37) % 256)
    buffer = io.BytesIO()
    Image.merge("RGB", (horizontal, vertical, blue)).save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue()


def zeros_zip(members: int = 50, member_bytes: int = 10 * 1024 * 1024) -> bytes:
    buffer = io.BytesIO()
    zeros = b"\0" * member_bytes
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for index in range(members):
            archive.writestr(f"zeros-{index}.bmp", zeros)
    return buffer.getvalue()


def multipart(files: list[tuple[str, bytes]], boundary: str = "bench-boundary") -> bytes:
    body = b""
    for name, data in files:
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode() + data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Site:
    """A throw-away install: its own VAR_DIR, SQLite database, user and API key."""

    repo = REPO

    def __init__(self, root: Path):
        self.root = root
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "captionsite.settings",
            "VAR_DIR": str(root),
            "DATABASE_URL": f"sqlite:///{root / 'bench.sqlite3'}",
            "MEDIA_ROOT": str(root / "media"),
            "SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789",
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "API_RATE_UPLOAD": "1000/m",
            "API_RATE_BATCH": "1000/m",
            "GUNICORN_WORKERS": "1",
            "GUNICORN_THREADS": "1",
            "GUNICORN_TIMEOUT": "300",
            "REDIS_URL": "",
        }
        python = sys.executable
        subprocess.run([python, "manage.py", "migrate", "-v", "0"], cwd=self.repo, env=self.env, check=True)
        script = (
            "from accounts.models import User; from accounts import services;"
            "u = User.objects.create_user(email='bench@example.com', password=None);"
            "print(services.api_key_create(owner=u, name='bench')[1])"
        )
        out = subprocess.run([python, "manage.py", "shell", "-c", script], cwd=self.repo, env=self.env, check=True,
                             capture_output=True, text=True).stdout
        self.key = out.strip().splitlines()[-1]

    def serve(self):
        port = free_port()
        env = {**self.env, "GUNICORN_BIND": f"127.0.0.1:{port}"}
        log = open(self.root / f"gunicorn-{port}.log", "w")  # noqa: SIM115 (closed with the server)
        master = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "captionsite.asgi:application"],
            cwd=self.repo, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(url + "/health/live/", timeout=2)
                break
            except Exception:
                try:
                    urllib.request.urlopen(url + "/health/", timeout=2)
                    break
                except Exception:
                    time.sleep(0.3)
        else:
            master.kill()
            raise SystemExit("gunicorn did not start: " + (self.root / f"gunicorn-{port}.log").read_text()[-2000:])
        return master, url, log

    def post(self, url: str, path: str, files: list[tuple[str, bytes]]) -> tuple[int, dict]:
        request = urllib.request.Request(
            url + path, data=multipart(files), method="POST",
            headers={"Authorization": f"Api-Key {self.key}",
                     "Content-Type": "multipart/form-data; boundary=bench-boundary"},
        )
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")


def measure(site: Site, path: str, files: list[tuple[str, bytes]], warmup: list[tuple[str, bytes]]) -> dict:
    master, url, log = site.serve()
    try:
        site.post(url, "/api/v1/images/", warmup)
        worker = psutil.Process(master.pid).children()[0]
        time.sleep(0.3)
        baseline = worker.memory_info().rss
        peak = baseline
        done = threading.Event()

        def sample():
            nonlocal peak
            while not done.is_set():
                peak = max(peak, worker.memory_info().rss)
                time.sleep(0.005)

        sampler = threading.Thread(target=sample)
        sampler.start()
        started = time.monotonic()
        status, body = site.post(url, path, files)
        elapsed = time.monotonic() - started
        done.set()
        sampler.join()
        time.sleep(0.3)
        after = worker.memory_info().rss
        return {
            "status": status,
            "accepted": len(body.get("images", [])),
            "refused": len(body.get("refused", [])),
            "seconds": round(elapsed, 2),
            "baseline_mib": round(baseline / 2**20, 1),
            "peak_growth_mib": round((peak - baseline) / 2**20, 1),
            "kept_after_mib": round((after - baseline) / 2**20, 1),
        }
    finally:
        master.terminate()
        master.wait(timeout=30)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=6000, help="edge of the square PNGs (pixels)")
    parser.add_argument("--count", type=int, default=8, help="PNGs in the many-file request")
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout to serve (to compare with another branch)")
    args = parser.parse_args()
    Site.repo = args.repo.resolve()
    pngs = [gradient_png(args.size, seed) for seed in range(args.count)]
    archive = zeros_zip()
    warmup = [("warmup.png", gradient_png(64, 0))]
    print(f"PNG {args.size}x{args.size}: {len(pngs[0]) / 1024:.0f} KiB each; zip: {len(archive) / 1024:.0f} KiB")
    with tempfile.TemporaryDirectory(prefix="bench-upload-") as root:
        site = Site(Path(root))
        results = {
            "1 PNG": measure(site, "/api/v1/images/", [("p0.png", pngs[0])], warmup),
            f"{args.count} PNG": measure(site, "/api/v1/images/", [(f"p{i}.png", d) for i, d in enumerate(pngs)], warmup),
            "zip of zeros": measure(site, "/api/v1/batches/", [("zeros.zip", archive)], warmup),
        }
    for name, figures in results.items():
        print(f"{name:>14}: {figures}")
    one, many = results["1 PNG"]["peak_growth_mib"], results[f"{args.count} PNG"]["peak_growth_mib"]
    print(f"ratio {args.count}/1 of the peak growth: {many / max(one, 0.1):.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
