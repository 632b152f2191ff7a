from django.core.management.base import BaseCommand, CommandError

from feedback.export import FORMATS, dataset_write
from feedback.selectors import training_examples


def _fraction(value: str) -> float:
    number = float(value)
    if not 0.0 <= number < 1.0:
        raise ValueError
    return number


class Command(BaseCommand):
    help = (
        "Write the feedback data set: each judged image with its best caption (a human one, else an "
        "approved model caption, else one rated at least --min-rating) and its train/val split. "
        "All captions of one image (and of identical bytes) fall on the same side."
    )

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=FORMATS, default="jsonl")
        parser.add_argument("--min-rating", type=int, default=4, choices=range(1, 6), metavar="N",
                            help="Lowest rating (1-5) that makes a model caption an example (default 4).")
        parser.add_argument("--val-fraction", type=_fraction, default=0.2, metavar="F",
                            help="Share of images in the validation split, 0 to below 1 (default 0.2).")
        parser.add_argument("--out", required=True, metavar="PATH", help="The file to write.")

    def handle(self, *args, format, min_rating, val_fraction, out, **options):
        examples = training_examples(min_rating=min_rating, val_fraction=val_fraction)
        try:
            path = dataset_write(examples, format, out)
        except OSError as error:
            raise CommandError(f"Could not write {out}: {error}") from None
        images = {e.image_id for e in examples}
        val_images = {e.image_id for e in examples if e.split == "val"}
        self.stdout.write(
            f"Wrote {len(examples)} captions of {len(images)} images "
            f"({len(images) - len(val_images)} train, {len(val_images)} val) to {path}"
        )
