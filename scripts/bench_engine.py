#!/usr/bin/env python
"""Requests per second of mlcore's OpenAI-compatible engine at 1, 4, 16 requests in flight against a
real `transformers serve` (the transformers CLI, transformers[serving]) serving a tiny random LLaVA.

    .venv/bin/python scripts/bench_engine.py                       # levels 1,4,16; 32 requests each
    .venv/bin/python scripts/bench_engine.py --levels 1,2,4,8,16 --requests 48 --json engine.json
    .venv/bin/python scripts/bench_engine.py --url http://gpu-host:8000/v1 --model my-vlm   # a server you run

Each level is one `OpenAIEngine(concurrency=N).caption(images)` call over --requests distinct images
(one chat-completions request per image, at most N in flight); best of --repeats rounds. The tiny
model makes the figure a measure of the HTTP path and the server's scheduling, not of a VLM's
arithmetic: with a real model the server's generation time dominates.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(folder: str, log_path: str) -> tuple[subprocess.Popen, str]:
    """`transformers serve folder` on a free local port; returns (process, base URL) once /health answers."""
    cli = os.path.join(os.path.dirname(sys.executable), "transformers")
    if not os.path.exists(cli):
        cli = shutil.which("transformers") or ""
    if not cli:
        raise SystemExit("the transformers CLI is not installed: pip install 'transformers[serving]'")
    port = _free_port()
    log = open(log_path, "w")  # noqa: SIM115 - the server's log for its whole life
    proc = subprocess.Popen(
        [cli, "serve", folder, "--host", "127.0.0.1", "--port", str(port), "--device", "cpu", "--log-level", "warning"],
        stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, HF_HUB_OFFLINE="1"),
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"transformers serve exited with {proc.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                if response.status == 200:
                    return proc, f"http://127.0.0.1:{port}/v1"
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("transformers serve did not become ready in 180 s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--levels", default="1,4,16", help="requests in flight, e.g. 1,4,16")
    ap.add_argument("--requests", type=int, default=32, help="requests (images) per level")
    ap.add_argument("--max-tokens", type=int, default=8, help="new tokens per caption")
    ap.add_argument("--repeats", type=int, default=2, help="rounds per level; the best is kept")
    ap.add_argument("--url", default=None, help="an already running server's base URL (.../v1) instead of a tiny one")
    ap.add_argument("--model", default=None, help="the model name to ask --url for")
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    if not levels or min(levels) < 1 or args.requests < 1:
        ap.error("--levels and --requests need positive integers")

    from benchmarks.testing import make_test_images
    from benchmarks.testing_vlm import build_tiny_llava
    from mlcore import GenerationParams
    from mlcore.predictors.openai_engine import OpenAIEngine

    params = GenerationParams(num_beams=1, max_length=args.max_tokens, min_length=1)
    images = make_test_images(args.requests, size=(64, 48), seed=3)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as scratch:
        proc = None
        if args.url:
            url, model = args.url, args.model or ""
        else:
            model = build_tiny_llava(os.path.join(scratch, "tiny-llava"))
            proc, url = start_server(model, os.path.join(scratch, "serve.log"))
        try:
            print(f"# OpenAI engine against {'transformers serve (tiny random LLaVA)' if proc else url}; "
                  f"{args.requests} requests per level, {args.max_tokens} new tokens, best of {args.repeats}", flush=True)
            warm = OpenAIEngine(url, model, concurrency=1, retries=0)
            warm.caption(images[:2], params)
            for level in levels:
                engine = OpenAIEngine(url, model, concurrency=level, retries=0)
                best = 0.0
                for _ in range(max(1, args.repeats)):
                    started = time.perf_counter()
                    results = engine.caption(images, params)
                    elapsed = time.perf_counter() - started
                    if not all(r.ok for r in results):
                        failed = [r.details.get("error") for r in results if not r.ok][:3]
                        raise SystemExit(f"{level} in flight: some requests failed: {failed}")
                    best = max(best, len(images) / elapsed)
                rows.append({"in_flight": level, "requests": len(images), "requests_per_s": best,
                             "ms_per_request_at_this_rate": 1000 * level / best})
                print(f"in flight {level:>3}: {best:7.2f} requests/s  (one finished every {1000 / best:.0f} ms; "
                      f"each took about {1000 * level / best:.0f} ms from sent to answered)", flush=True)
        finally:
            if proc is not None:
                proc.kill()
                proc.wait(timeout=30)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"rows": rows, "url": url if not proc else "transformers serve (tiny LLaVA)"}, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
