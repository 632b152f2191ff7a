"""The fair benchmark without the site: the product's captioner (mlcore: decode at the model's size,
batched captioning with scores) against a competent plain transformers script at the same dtype and
batch, on the same JPEG files, rounds alternating. No Django, no database: it runs where only torch
and transformers are (a GPU host), and sweeps batch sizes.

    python -m benchmarks.model_path --model DIR --device cuda --batches 32,64,128,256 --photos 512
    python -m benchmarks.model_path --model DIR --batches 8 --photos 16 --photo-set phone --threads 1

Wall img/s (CUDA synchronised) and process CPU-seconds per image, median and best of ``--rounds``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any


def _timed(fn, device: str) -> tuple[float, float, Any]:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def run(model: str, paths: list[str], *, device: str, dtype: str, batches: list[int], beams: list[int],
        max_length: int, rounds: int, log=print) -> dict[str, Any]:
    import mlcore
    from mlcore.images import DEFAULT_MAX_PIXELS, captioner_target_size, load_image

    from .worker_path import CompetentScript

    rows = []
    for batch in batches:
        captioner = mlcore.load_captioner(model, device=device, dtype=dtype, max_batch_size=batch)
        info = captioner.info()
        prompt = captioner.caption_prompt(mlcore.GenerationParams()) if hasattr(captioner, "caption_prompt") else None
        script = CompetentScript(model, device=device, dtype=info["dtype"], prompt=prompt)
        target = captioner_target_size(captioner)

        def product(params, captioner=captioner, target=target):
            images = [load_image(p, max_pixels=DEFAULT_MAX_PIXELS, target_size=target).image for p in paths]
            return [r.text for r in captioner.caption(images, params)]

        for nb in beams:
            params = mlcore.GenerationParams.from_dict({"num_beams": nb, "max_length": max_length,
                                                        "min_length": max_length})

            def plain(nb=nb, batch=batch, script=script):
                return script.caption(paths, batch=batch, num_beams=nb, max_new_tokens=max_length,
                                      min_new_tokens=max_length)

            script.caption(paths[:batch], batch=batch, num_beams=nb, max_new_tokens=5, min_new_tokens=5)  # warm-up
            captioner.caption([load_image(p, max_pixels=DEFAULT_MAX_PIXELS, target_size=target).image
                               for p in paths[:batch]], mlcore.GenerationParams.from_dict(
                                   {"num_beams": nb, "max_length": 5, "min_length": 5}))
            figures: dict[str, list[tuple[float, float]]] = {"script": [], "product": []}
            load_before = os.getloadavg()
            for _ in range(rounds):
                for name, fn in (("script", plain), ("product", lambda params=params: product(params))):
                    wall, cpu, _ = _timed(fn, device)
                    figures[name].append((len(paths) / wall, cpu / len(paths)))
            row = {"batch": batch, "beams": nb, "images": len(paths), "dtype": info["dtype"],
                   "vision_engine": info.get("vision_engine", ""), "attention_script": script.attention,
                   "load_average": [load_before, os.getloadavg()]}
            for name, values in figures.items():
                row[name] = {"median_img_s": statistics.median(v[0] for v in values),
                             "best_img_s": max(v[0] for v in values),
                             "median_cpu_s_per_image": statistics.median(v[1] for v in values)}
            row["ratio_median"] = row["product"]["median_img_s"] / row["script"]["median_img_s"]
            row["cpu_ratio_median"] = row["script"]["median_cpu_s_per_image"] / row["product"]["median_cpu_s_per_image"]
            rows.append(row)
            log(f"batch {batch:>3} beams {nb}: script {row['script']['median_img_s']:.2f} img/s "
                f"({row['script']['median_cpu_s_per_image']:.3f} CPU-s/img), product {row['product']['median_img_s']:.2f} "
                f"img/s ({row['product']['median_cpu_s_per_image']:.3f} CPU-s/img): x{row['ratio_median']:.2f} wall, "
                f"x{row['cpu_ratio_median']:.2f} CPU  [{info['dtype']}, vision {info.get('vision_engine') or 'torch'}]")
        del captioner, script
        mlcore.clear_cache()
    return {"rows": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.model_path", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--device", default=None)
    ap.add_argument("--dtype", default=None, help="default: auto (bf16 on CUDA and on CPUs with native bf16)")
    ap.add_argument("--batches", default="8")
    ap.add_argument("--beams", default="1,3")
    ap.add_argument("--photos", type=int, default=16, help="synthetic photos (cycled to this many files)")
    ap.add_argument("--photo-set", choices=("coco", "phone", "mixed"), default="coco")
    ap.add_argument("--max-length", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from mlcore.hfutils import resolve_device, resolve_dtype

    from .bench import PHOTO_SETS, make_photos

    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    with tempfile.TemporaryDirectory(prefix="model-path-") as scratch:
        distinct = make_photos(scratch, n=min(args.photos, 32), sizes=PHOTO_SETS[args.photo_set])
        paths = [distinct[i % len(distinct)] for i in range(args.photos)]
        print(f"# benchmarks.model_path: {args.model} on {device} ({dtype}); {args.photos} {args.photo_set} photos; "
              f"torch threads {torch.get_num_threads()}; load average {os.getloadavg()}", flush=True)
        out = run(args.model, paths, device=device, dtype=dtype, batches=[int(b) for b in args.batches.split(",")],
                  beams=[int(b) for b in args.beams.split(",")], max_length=args.max_length, rounds=args.rounds,
                  log=lambda line: print(line, flush=True))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(out, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
