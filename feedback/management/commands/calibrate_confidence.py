from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from captions.selectors import captioning_defaults
from feedback.selectors import calibration_examples
from feedback.services import confidence_calibration_record

TABLE_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def _fraction(value: str) -> float:
    number = float(value)
    if not 0.0 < number <= 1.0:
        raise ValueError
    return number


class Command(BaseCommand):
    help = (
        "How well the caption confidence separates good captions from bad ones, judged by people: "
        "ratings 4-5 are good and 1-2 bad, an approval is good, an edit, a picked alternative or a "
        "rejection bad. Reports the AUROC and the review threshold that reaches --target-precision "
        "among the captions it lets through; --apply makes that threshold the site's."
    )

    def add_arguments(self, parser):
        parser.add_argument("--target-precision", type=_fraction, default=0.9, metavar="P",
                            help="Share of good captions wanted among those above the threshold (default 0.9).")
        parser.add_argument("--apply", action="store_true", help="Make the threshold found the active review threshold.")

    def handle(self, *args, target_precision, apply, **options):
        import mlcore

        examples = calibration_examples()
        if not examples:
            raise CommandError("No rated or reviewed model captions yet: there is nothing to calibrate on.")
        scores = [confidence for confidence, _ in examples]
        labels = [good for _, good in examples]
        report = mlcore.calibrate(scores, labels, target_precision=target_precision)

        write = self.stdout.write
        write(f"Judged captions    {report.n} ({report.n_good} good, {report.n - report.n_good} bad)")
        write(f"AUROC              {report.auroc:.3f}" if report.auroc is not None else "AUROC              n/a (needs good and bad examples)")
        write(f"Current threshold  {captioning_defaults().review_threshold:.3f}")
        if report.threshold is None:
            write(f"Threshold for precision {target_precision:.2f}: none reaches it")
        else:
            write(
                f"Threshold for precision {target_precision:.2f}: {report.threshold:.3f} "
                f"(precision {report.precision:.3f}, recall {report.recall:.3f}, "
                f"{report.coverage:.1%} of captions skip review)"
            )
        write("")
        write(f"{'threshold':>9}  {'precision':>9}  {'recall':>6}  {'to review':>9}")
        total_good = sum(labels)
        for threshold in TABLE_THRESHOLDS:
            accepted = [good for score, good in examples if score >= threshold]
            precision = f"{sum(accepted) / len(accepted):.3f}" if accepted else "-"
            recall = f"{sum(accepted) / total_good:.3f}" if total_good else "-"
            write(f"{threshold:>9.2f}  {precision:>9}  {recall:>6}  {1 - len(accepted) / len(examples):>9.1%}")

        try:
            confidence_calibration_record(report=report, apply=apply)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        if apply:
            write(self.style.SUCCESS(f"The review threshold is now {report.threshold:.3f}."))
