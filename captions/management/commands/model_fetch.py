from django.core.management.base import BaseCommand, CommandError

from captions.selectors import captioning_defaults


class Command(BaseCommand):
    help = (
        "Download a caption model into the Hugging Face cache (run on a machine with internet), "
        "so workers can load it offline. Copy the cache folder (HF_HOME) or the printed folder to "
        "the offline machine and set CAPTION_MODEL to it."
    )

    def add_arguments(self, parser):
        parser.add_argument("spec", nargs="?", help="registry name, hub id or ensemble spec (default: the active model, else CAPTION_MODEL)")
        parser.add_argument("--cache-dir", help="download into this folder instead of the HF cache")

    def handle(self, *args, spec=None, cache_dir=None, **options):
        import mlcore

        spec = spec or captioning_defaults().model_spec
        self.stdout.write(f"Fetching {spec} ...")
        try:
            path = mlcore.fetch_model(spec, cache_dir=cache_dir)
        except mlcore.ModelLoadError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(self.style.SUCCESS(f"{spec} is in {path}"))
        self.stdout.write(f"To use it offline: set CAPTION_MODEL={path} (or keep the id and copy the HF cache).")
