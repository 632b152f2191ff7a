"""Memory and speed of every registry model at its PUBLISHED shape with RANDOM weights.

    python -m benchmarks.bench_models                                  # every registry model, CPU, fp32 + bf16
    python -m benchmarks.bench_models --models blip-base,smolvlm-256m --dtypes bfloat16
    python -m benchmarks.bench_models --device cuda --dtypes bfloat16 --max-weights-gib 100   # a GPU host
    python -m benchmarks.bench_models --json out.json --markdown out.md

Each (model, dtype) runs in its own subprocess (one at a time): the model is built from
benchmarks.bench_shapes (real parameter count, real activation memory, real compute per token; captions
are meaningless), then captions ``--images`` photo-like 640x480 images through the Captioner the
registry would load, greedy (and beam 3 for models under ``--beam-max-params``), with exactly
``--max-length`` new tokens (min_length = max_length). Reported: parameters, load (build) time,
seconds per image and generated tokens per second (best of ``--rounds``, with the 1-minute load
average beside it), peak RSS of the subprocess (VmHWM) and on CUDA the peak allocated VRAM.
A model whose weights alone exceed ``--max-weights-gib`` in a dtype, or that needs a package that is
not installed, is listed as not measured with the reason (and the weight size); nothing is guessed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import time
from typing import Any

from mlcore.config import child_environment

from . import ROOT

__all__ = ["measure", "bench", "markdown", "main"]

_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def measure(shape, device: str = "cpu", dtype: str = "float32", n_images: int = 1, rounds: int = 2,
            max_length: int = 20, beams: tuple[int, ...] = (1,), threads: int | None = None) -> dict[str, Any]:
    """In this process: build ``shape`` (a registry name or a bench_shapes.Shape) with random weights and
    time its captions. Meant for a fresh subprocess (the peak RSS is the process's)."""
    import torch

    from mlcore.params import GenerationParams

    from .bench import peak_mib, peak_reset, peak_rss_mib
    from .bench_shapes import build_captioner
    from .testing import make_test_images

    if threads:
        torch.set_num_threads(threads)
    peak_reset(device)
    t0 = time.perf_counter()
    captioner = build_captioner(shape, device=device, dtype=dtype, max_batch_size=1)
    load_s = time.perf_counter() - t0
    params = sum(p.numel() for p in captioner.model.parameters())
    images = make_test_images(n_images, size=(640, 480), seed=1)
    out: dict[str, Any] = {"params": params, "load_s": round(load_s, 2), "threads": torch.get_num_threads(),
                           "runs": []}
    for nb in beams:
        gp = GenerationParams(num_beams=nb, max_length=max_length, min_length=max_length, num_alternatives=1)
        best: dict[str, Any] = {}
        for _ in range(max(1, rounds)):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t = time.perf_counter()
            results = captioner.caption(images, gp)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            per_image = (time.perf_counter() - t) / len(images)
            # caption() raises on a real error; a random-weight model whose tokens decode to nothing
            # gives an "empty caption" result after generating all its tokens: counted, not an error
            out["empty_captions"] = sum(1 for r in results if not r.ok)
            if not best or per_image < best["s_per_image"]:
                best = {"beams": nb, "s_per_image": round(per_image, 3),
                        "tokens_per_s": round(max_length / per_image, 2), "loadavg_1m": _loadavg()}
        out["runs"].append(best)
    out["peak_rss_mib" if not device.startswith("cuda") else "peak_vram_mib"] = round(peak_mib(device) or 0)
    if device.startswith("cuda"):
        out["peak_rss_mib"] = round(peak_rss_mib() or 0)
    return out


def _machine(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(0)
    model = ""
    try:
        with open("/proc/cpuinfo") as fh:
            model = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), "")
    except OSError:
        pass
    return f"{model or platform.processor() or 'CPU'}, {os.cpu_count()} cores"


def bench(shapes: list, device: str = "cpu", dtypes: tuple[str, ...] = ("float32", "bfloat16"), n_images: int = 1,
          rounds: int = 2, max_length: int = 20, beam_max_params: int = 300_000_000,
          max_weights_gib: float = 6.5, timeout_s: float = 1800, threads: int | None = None, log=print,
          on_row=None) -> list[dict[str, Any]]:
    """Measure each shape (registry name or bench_shapes.Shape) in each dtype, one subprocess at a time."""
    from .bench_shapes import SHAPES, count_parameters, needs_missing_package, published_check

    rows = []
    for item in shapes:
        shape = SHAPES[item] if isinstance(item, str) else item
        known = shape.name in SHAPES and SHAPES[shape.name] == shape
        params = count_parameters(shape)
        base = {"model": shape.name, "hub_id": shape.hub_id, "params": params}
        if known:
            counted, published, rel = published_check(shape)
            base.update(published_params=published, params_vs_published=round(rel, 4))
        missing = needs_missing_package(shape.name) if known else None
        for dtype in dtypes:
            weights_gib = params * _BYTES[dtype] / 2**30
            row = dict(base, dtype=dtype, device=device, weights_gib=round(weights_gib, 2))
            if missing:
                row["not_measured"] = missing
            elif weights_gib > max_weights_gib:
                row["not_measured"] = (f"weights alone are {row['weights_gib']} GiB in {dtype}, over this run's "
                                       f"{max_weights_gib} GiB limit (--max-weights-gib)")
            else:
                beams = (1, 3) if params <= beam_max_params else (1,)
                arg = json.dumps(dataclasses.asdict(shape))
                cmd = [sys.executable, "-m", "benchmarks.bench_models", "--child", arg, "--device", device,
                       "--dtypes", dtype, "--images", str(n_images), "--rounds", str(rounds),
                       "--max-length", str(max_length), "--beams", ",".join(map(str, beams))]
                env = child_environment(TOKENIZERS_PARALLELISM="false")
                if threads:
                    cmd += ["--threads", str(threads)]
                    env["OMP_NUM_THREADS"] = str(threads)
                try:
                    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                                          env=env, cwd=ROOT)
                    last = (proc.stdout.strip().splitlines() or [""])[-1]
                    if proc.returncode == 0 and last.startswith("{"):
                        row.update(json.loads(last))
                    else:
                        err = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
                        row["not_measured"] = f"failed: {err[:300]}"
                except subprocess.TimeoutExpired:
                    row["not_measured"] = f"did not finish in {timeout_s:.0f} s"
            rows.append(row)
            log(_line(row))
            if on_row is not None:
                on_row(rows)
    return rows


def _line(row: dict[str, Any]) -> str:
    head = f"{row['model']:<18} {row['dtype']:<8} {row['params'] / 1e6:8.1f}M params"
    if row.get("not_measured"):
        return f"{head}  not measured: {row['not_measured']}"
    runs = "; ".join(f"beam {r['beams']}: {r['s_per_image']:.2f} s/image, {r['tokens_per_s']:.1f} tok/s "
                     f"(load avg {r['loadavg_1m']})" for r in row["runs"])
    mem = f"peak RSS {row['peak_rss_mib']} MiB" + (f", peak VRAM {row['peak_vram_mib']} MiB"
                                                   if "peak_vram_mib" in row else "")
    return f"{head}  load {row['load_s']:.1f} s  {runs}  {mem}"


def _fits(mib: float) -> str:
    return ", ".join(f"{g} GiB" for g in (2, 4) if mib <= g * 1024) or "no"


def markdown(rows: list[dict[str, Any]], device: str = "cpu") -> str:
    """A Markdown table: one line per model and dtype."""
    mem_col = "peak VRAM" if device.startswith("cuda") else "peak RSS"
    lines = [f"| model | params (published) | dtype | weights | load | s/image greedy | tok/s | s/image beam 3 "
             f"| {mem_col} | fits 2 / 4 GiB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        pub = f" ({r['published_params'] / 1e9:.2f}B)" if r.get("published_params") else ""
        head = f"| {r['model']} | {r['params'] / 1e9:.3f}B{pub} | {r['dtype']} | {r['weights_gib']:.2f} GiB"
        if r.get("not_measured"):
            lines.append(f"{head} | – | not measured: {r['not_measured']} | | | | |")
            continue
        greedy = next(x for x in r["runs"] if x["beams"] == 1)
        beam = next((x for x in r["runs"] if x["beams"] == 3), None)
        mem = r["peak_vram_mib"] if device.startswith("cuda") else r["peak_rss_mib"]
        fits = "–" if device.startswith("cuda") else _fits(r["peak_rss_mib"])
        beam_s = f"{beam['s_per_image']:.2f}" if beam else "–"
        lines.append(f"{head} | {r['load_s']:.1f} s | {greedy['s_per_image']:.2f} (load {greedy['loadavg_1m']}) "
                     f"| {greedy['tokens_per_s']:.1f} | {beam_s} "
                     f"| {mem / 1024:.2f} GiB | {fits} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from mlcore.registry import REGISTRY

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=None, help="comma-separated registry names (default: every registry model)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--dtypes", default=None, help="float32,bfloat16 (default: both on CPU, bfloat16 on CUDA)")
    ap.add_argument("--images", type=int, default=1, help="640x480 images per round")
    ap.add_argument("--rounds", type=int, default=2, help="rounds per setting; the best is kept")
    ap.add_argument("--max-length", type=int, default=20, help="new tokens per caption (= min_length)")
    ap.add_argument("--beams", default="1", help=argparse.SUPPRESS)
    ap.add_argument("--beam-max-params", type=int, default=300_000_000, help="also beam 3 up to this many params")
    ap.add_argument("--max-weights-gib", type=float, default=6.5, help="skip a dtype whose weights exceed this")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per model and dtype")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads per measurement (default: torch's; 1 gives steadier figures on a shared machine)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--markdown", default=None)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    device = args.device
    if args.child:  # one measurement; prints one JSON line
        from .bench_shapes import Shape

        shape = Shape(**json.loads(args.child))
        res = measure(shape, device=device, dtype=args.dtypes, n_images=args.images, rounds=args.rounds,
                      max_length=args.max_length, beams=tuple(int(b) for b in args.beams.split(",")),
                      threads=args.threads)
        print(json.dumps(res), flush=True)
        return 0
    if args.dtypes:
        dtypes = tuple(d.strip() for d in args.dtypes.split(",") if d.strip())
    else:
        dtypes = ("bfloat16",) if device.startswith("cuda") else ("float32", "bfloat16")
    bad = [d for d in dtypes if d not in _BYTES]
    if bad:
        ap.error(f"unknown dtype(s) {bad}; use {', '.join(_BYTES)}")
    names = [n.strip() for n in args.models.split(",")] if args.models else list(REGISTRY)
    from .bench_shapes import SHAPES

    unknown = [n for n in names if n not in SHAPES]
    if unknown:
        ap.error(f"no published shape for {unknown}; known: {', '.join(SHAPES)}")
    print(f"# benchmarks.bench_models on {_machine(device)} ({args.threads or 'default'} torch threads, load average "
          f"{_loadavg()}): random weights at the published shapes; {args.images} image(s) 640x480, {args.max_length} new tokens, best of {args.rounds}", flush=True)
    meta = {"machine": _machine(device), "device": device, "threads": args.threads,
            "loadavg_1m_at_start": _loadavg(), "images": args.images, "rounds": args.rounds, "max_length": args.max_length, "weights": "random, at the published shapes", "rows": []}

    def save(rows):  # after every row: a long run that is stopped keeps what it measured
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(dict(meta, rows=rows), fh, indent=2)

    rows = bench(names, device=device, dtypes=dtypes, n_images=args.images, rounds=args.rounds,
                 max_length=args.max_length, beam_max_params=args.beam_max_params,
                 max_weights_gib=args.max_weights_gib, timeout_s=args.timeout, threads=args.threads,
                 log=lambda s: print(s, flush=True), on_row=save)
    table = markdown(rows, device)
    print(table)
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
