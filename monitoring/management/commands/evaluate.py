import json
import os
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from captions.params import generation_params_parse
from captions.selectors import captioning_defaults
from monitoring import services


class Command(BaseCommand):
    help = (
        "Caption every image of a COCO-format annotation file with a model, score the captions "
        "(BLEU-1..4, METEOR, ROUGE-L, CIDEr) and store an EvaluationRun that the dashboard compares."
    )

    def add_arguments(self, parser):
        parser.add_argument("--model", help="registry name, folder or hub id (default: the active model, else CAPTION_MODEL)")
        parser.add_argument("--annotations", required=True, help="COCO captions JSON (images + annotations)")
        parser.add_argument("--images", required=True, help="folder holding the annotated images")
        parser.add_argument("--limit", type=int, help="score only the first N annotated images")
        parser.add_argument("--dataset", help="name shown on the dashboard (default: the annotation file's name)")
        parser.add_argument("--params", action="append", help='generation parameters: JSON or key=value[,key=value]')
        parser.add_argument("--batch-size", type=int, default=None, help="images per model call (default: CAPTION_BATCH_SIZE)")
        parser.add_argument("--spice", action="store_true", help="also compute SPICE (slow; needs Java)")

    def handle(self, *args, **options):
        import mlcore
        from mlcore.metrics import evaluate

        spec = options["model"] or captioning_defaults().model_spec
        annotations, images = Path(options["annotations"]), Path(options["images"])
        limit = options["limit"]
        if limit is not None and limit < 1:
            raise CommandError("--limit must be at least 1.")
        batch_size = options["batch_size"] or settings.CAPTION_BATCH_SIZE
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        _check_annotations(annotations)
        if not images.is_dir():
            raise CommandError(f"--images {images} is not a folder.")
        params = generation_params_parse(options["params"])
        dataset = options["dataset"] or annotations.stem

        try:
            captioner = mlcore.load_captioner(spec, device=settings.CAPTION_DEVICE, dtype=settings.CAPTION_DTYPE)
        except mlcore.ModelLoadError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Evaluating {captioner.model_id} ({captioner.model_version}) on {dataset} ...")

        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as scratch:
            try:
                result = evaluate(
                    captioner,
                    str(annotations),
                    str(images),
                    out_json=os.path.join(scratch, "evaluation.json"),
                    params=params,
                    batch_size=batch_size,
                    limit=limit,
                    spice=options["spice"],
                    progress=options["verbosity"] > 0,
                )
            except Exception as error:
                services.evaluation_run_record(
                    model_spec=spec, dataset=dataset, annotations_path=str(annotations.resolve()),
                    images_dir=str(images.resolve()), params=params.to_dict(),
                    error=f"{type(error).__name__}: {error}", duration_seconds=time.perf_counter() - started,
                )
                raise CommandError(f"The evaluation failed: {type(error).__name__}: {error}") from error
        result.pop("out_json", None)
        run = services.evaluation_run_record(
            model_spec=spec, dataset=dataset, annotations_path=str(annotations.resolve()),
            images_dir=str(images.resolve()), result=result, params=params.to_dict(),
        )
        for name, value in run.scores.items():
            self.stdout.write(f"  {name:<8} {value:.4f}")
        for name, reason in (result.get("skipped") or {}).items():
            self.stdout.write(self.style.WARNING(f"  {name} skipped: {reason}"))
        self.stdout.write(
            self.style.SUCCESS(f"EvaluationRun #{run.pk}: {run.image_count} images; per-image captions in {run.captions_file.name}")
        )


def _check_annotations(path: Path) -> None:
    if not path.is_file():
        raise CommandError(f"--annotations {path} does not exist.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CommandError(f"--annotations {path} is not valid JSON: {error}") from None
    if not isinstance(data, dict) or not data.get("images") or not data.get("annotations"):
        raise CommandError(
            f"--annotations {path} is not a COCO captions file: it needs non-empty 'images' and 'annotations' lists."
        )
