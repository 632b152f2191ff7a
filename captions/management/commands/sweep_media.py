"""Delete stale staged uploads, media files no image names and leftover temporary upload files."""

from django.core.management.base import BaseCommand

from captions.services.media import media_sweep


class Command(BaseCommand):
    help = (
        "Clean the media folder after crashes: staged uploads whose request died, files under images/ and "
        "thumbnails/ that no image names, and Django's temporary upload files, once older than "
        "MEDIA_SWEEP_AFTER_MINUTES (scheduled every 15 minutes as 'captions: sweep media')."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than-minutes", type=int, default=None,
            help="only files older than this (default: MEDIA_SWEEP_AFTER_MINUTES; 0: everything not in use)",
        )

    def handle(self, *args, older_than_minutes=None, **options):
        if older_than_minutes is not None and older_than_minutes < 0:
            self.stderr.write("--older-than-minutes must be 0 or more.")
            raise SystemExit(2)
        summary = media_sweep(older_than_minutes=older_than_minutes)
        self.stdout.write(
            f"published {summary.published}, staged deleted {summary.staged_deleted}, "
            f"orphans deleted {summary.orphans_deleted}, temporary files deleted {summary.temp_deleted}"
        )
