from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from feedback import services
from feedback.models import TrainingRun


class Command(BaseCommand):
    help = (
        "Fine-tune a caption model on the exported feedback (the same data set as export_feedback), "
        "evaluate BLEU-4 and CIDEr on the validation split before and after, and record a TrainingRun. "
        "Runs here and now; --enqueue hands it to the workers instead."
    )

    def add_arguments(self, parser):
        parser.add_argument("--base", required=True, metavar="MODEL", help="The model spec to start from (a name, hub id or folder).")
        parser.add_argument("--epochs", type=int, default=3, metavar="N")
        parser.add_argument("--out", required=True, metavar="FOLDER", help="Where the fine-tuned model is written.")
        parser.add_argument("--min-rating", type=int, default=4, choices=range(1, 6), metavar="N")
        parser.add_argument("--val-fraction", type=float, default=0.2, metavar="F")
        parser.add_argument("--learning-rate", type=float, metavar="LR")
        parser.add_argument("--batch-size", type=int, metavar="N")
        parser.add_argument("--seed", type=int, metavar="N")
        parser.add_argument("--enqueue", action="store_true", help="Queue the run for a worker and return at once.")

    def handle(self, *args, base, epochs, out, min_rating, val_fraction, learning_rate, batch_size, seed, enqueue, **options):
        if not 0.0 <= val_fraction < 1.0:
            raise CommandError("--val-fraction must be from 0 to below 1.")
        extra = {"min_rating": min_rating, "val_fraction": val_fraction}
        extra.update({k: v for k, v in {"learning_rate": learning_rate, "batch_size": batch_size, "seed": seed}.items() if v is not None})
        try:
            run = services.training_run_create(base_model=base, output_dir=out, epochs=epochs, enqueue=enqueue, **extra)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        if enqueue:
            self.stdout.write(f"Training run {run.pk} is queued; a worker runs it.")
            return
        run = services.training_run_execute(run=run)
        self.stdout.write(run.log)
        if run.status != TrainingRun.Status.SUCCEEDED:
            raise CommandError(f"Training run {run.pk} failed: {run.error}")
        before, after = run.metrics_before, run.metrics_after
        self.stdout.write(f"{'':8}{'before':>10}{'after':>10}")
        for key, label in (("bleu4", "BLEU-4"), ("cider", "CIDEr")):
            self.stdout.write(f"{label:8}{before.get(key, float('nan')):>10.4f}{after.get(key, float('nan')):>10.4f}")
        self.stdout.write(self.style.SUCCESS(
            f"Training run {run.pk}: {run.train_size} training / {run.val_size} validation captions, "
            f"model written to {run.output_dir}. Activate it on the Models page or in the admin."
        ))
