import argparse
import importlib.util
import subprocess
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from captions.selectors import captioning_defaults


class Command(BaseCommand):
    help = (
        "Benchmark a caption model on this machine with mlcore's benchmark (python -m mlcore.bench): "
        "images per second of the naive one-by-one path and of the batched path, peak memory. "
        "Options after `--` go to mlcore.bench unchanged (see --help-bench)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--model", help="registry name, folder or hub id (default: the active model, else CAPTION_MODEL)")
        parser.add_argument("--device", help="cpu, cuda, cuda:1 (default: CAPTION_DEVICE, else automatic)")
        parser.add_argument("--help-bench", action="store_true", help="show mlcore.bench's own options")
        parser.add_argument("bench_args", nargs=argparse.REMAINDER, help="-- then options for mlcore.bench")

    def handle(self, *args, model=None, device=None, help_bench=False, bench_args=(), **options):
        if importlib.util.find_spec("mlcore.bench") is None:
            raise CommandError("mlcore.bench is not part of this installation of mlcore; update mlcore.")
        passed = [arg for arg in bench_args or [] if arg != "--"]
        if help_bench:
            command = ["--help"]
        else:
            command = ["--model", model or captioning_defaults().model_spec]
            if device or settings.CAPTION_DEVICE:
                command += ["--device", device or settings.CAPTION_DEVICE]
            command += passed
        command = [sys.executable, "-m", "mlcore.bench", *command]
        self.stderr.write("$ " + " ".join(command))
        self.stdout.flush()
        completed = subprocess.run(command, check=False)
        if completed.returncode != 0:
            raise CommandError(f"mlcore.bench exited with status {completed.returncode}.")
