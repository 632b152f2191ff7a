import argparse
import importlib.util
import json as json_module
import os
import subprocess
import sys
import tempfile

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from captions.selectors import captioning_defaults


class Command(BaseCommand):
    help = (
        "Benchmark a caption model on this machine with the workbench's benchmark (python -m benchmarks.bench): "
        "images per second of the naive one-by-one path and of the batched path, peak memory. "
        "Options after `--` go to benchmarks.bench unchanged (see --help-bench). "
        "With --worker-path: the fair benchmark: a competent plain transformers script (same dtype, same "
        "batch) against submit + the worker's caption_pending_run, in this process, on the same photos, "
        "rounds alternating (see docs/performance.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--model", help="registry name, folder or hub id (default: the active model, else CAPTION_MODEL)")
        parser.add_argument("--device", help="cpu, cuda, cuda:1 (default: CAPTION_DEVICE, else automatic)")
        parser.add_argument("--help-bench", action="store_true", help="show benchmarks.bench's own options")
        worker = parser.add_argument_group("worker path (--worker-path)")
        worker.add_argument(
            "--worker-path", nargs="?", const="", default=None, metavar="PHOTO_DIR",
            help="time a plain transformers script against submit + caption_pending_run on the photos of PHOTO_DIR "
            "(without a folder: synthetic photos of --photo-set); uses a temporary MEDIA_ROOT and a "
            "throwaway user, deleted afterwards. Run it where no worker cluster claims from this database.",
        )
        worker.add_argument("--photos", type=int, default=16, help="synthetic photos to make, or photos to use (16)")
        worker.add_argument(
            "--photo-set", choices=("coco", "phone", "mixed"), default="coco",
            help="synthetic photos: coco (<= 640 px, the COCO val2017 sizes; default), phone (12 MP JPEGs) "
            "or mixed (640x480 to 4000x3000)",
        )
        worker.add_argument("--strawman", action="store_true",
                            help="also time the seed's fp32 one-image-per-generate path (a labelled row only)")
        worker.add_argument("--threads", type=int, default=None,
                            help="torch threads for this process (default: torch's own choice)")
        worker.add_argument("--beams", default="1,3", help="beam counts, e.g. 1,3 (default)")
        worker.add_argument("--max-length", type=int, default=20, help="new tokens per caption (= min_length) (20)")
        worker.add_argument("--repeats", type=int, default=2, help="alternating rounds; the median and the best of each path are reported (2)")
        worker.add_argument(
            "--blip-config", default=None, metavar="DIR",
            help="without --model: build the random-weight BLIP-base from this folder's config.json "
            "(Salesforce/blip-image-captioning-base's); default: the same shapes from BlipConfig",
        )
        worker.add_argument("--json", default=None, help="also write the figures to this file")
        parser.add_argument("bench_args", nargs=argparse.REMAINDER, help="-- then options for benchmarks.bench")

    def handle(self, *args, model=None, device=None, help_bench=False, bench_args=(), **options):
        if options.get("worker_path") is not None:
            self._worker_path(model=model, **options)
            return
        if importlib.util.find_spec("benchmarks.bench") is None:
            raise CommandError("The benchmarks package is not part of this installation (it ships with the repository).")
        passed = [arg for arg in bench_args or [] if arg != "--"]
        if help_bench:
            command = ["--help"]
        else:
            command = ["--model", model or captioning_defaults().model_spec]
            if device or settings.CAPTION_DEVICE:
                command += ["--device", device or settings.CAPTION_DEVICE]
            command += passed
        command = [sys.executable, "-m", "benchmarks.bench", *command]
        self.stderr.write("$ " + " ".join(command))
        self.stdout.flush()
        completed = subprocess.run(command, check=False, cwd=settings.BASE_DIR)
        if completed.returncode != 0:
            raise CommandError(f"benchmarks.bench exited with status {completed.returncode}.")

    def _worker_path(
        self, *, model, worker_path, photos, beams, max_length, repeats, blip_config, json, photo_set="coco",
        strawman=False, threads=None, **_
    ):
        from benchmarks import worker_path as worker_benchmark
        from benchmarks.bench import PHOTO_SETS, make_photos, save_random_blip_base

        try:
            beam_counts = [int(b) for b in beams.split(",") if b.strip()]
        except ValueError:
            raise CommandError(f"--beams takes comma-separated integers, not {beams!r}.") from None
        if not beam_counts or photos < 1 or max_length < 1 or (threads is not None and threads < 1):
            raise CommandError("--beams, --photos and --max-length need positive values, and so does --threads.")
        from mlcore.params import GenerationParams, InvalidParams

        for nb in beam_counts:  # the worker's own validation, before anything is built or stored
            try:
                GenerationParams.from_dict({"num_beams": nb, "max_length": max_length, "min_length": max_length})
            except InvalidParams as error:
                option = {"num_beams": "--beams", "max_length": "--max-length", "min_length": "--max-length"}
                raise CommandError(f"{option.get(error.field, error.field)}: {error.message}") from None
        with tempfile.TemporaryDirectory(prefix="captionsite-bench-photos-") as scratch:
            if worker_path:
                if not os.path.isdir(worker_path):
                    raise CommandError(f"{worker_path} is not a folder of photos.")
                paths = worker_benchmark.photo_paths(worker_path)[:photos]
                if not paths:
                    raise CommandError(f"No image files (.jpg, .png, .webp, ...) in {worker_path}.")
                shown = f"{len(paths)} photos from {worker_path}"
            else:
                sizes = PHOTO_SETS[photo_set]
                paths = make_photos(scratch, n=photos, sizes=sizes)
                low, high = min(sizes, key=lambda s: s[0] * s[1]), max(sizes, key=lambda s: s[0] * s[1])
                shown = (f"{len(paths)} synthetic JPEG photos ({photo_set}: {low[0]}x{low[1]}..{high[0]}x{high[1]}), "
                         "quality 90")
            spec = model
            if not spec:
                spec = str(settings.VAR_DIR / "bench" / "blip-base-random")
                if not os.path.exists(os.path.join(spec, "config.json")):
                    self.stderr.write(f"Building the random-weight BLIP-base in {spec} (about 1 GB, once)...")
                    save_random_blip_base(spec, config_dir=blip_config)
            if threads:
                import torch

                torch.set_num_threads(threads)
            self.stdout.write(f"# fair benchmark: {spec}; {shown}; beams {beam_counts}, "
                              f"{max_length} new tokens (= min_length), {repeats} alternating rounds (median and best)")
            self.stdout.flush()
            try:
                out = worker_benchmark.run(photos=paths, spec=spec, beams=beam_counts, max_length=max_length,
                                           repeats=repeats, strawman=strawman,
                                           log=lambda line: (self.stdout.write(line), self.stdout.flush()))
            except RuntimeError as error:
                raise CommandError(f"The worker path failed: {error}") from None
        if json:
            with open(json, "w") as handle:
                json_module.dump(out, handle, indent=2)
