"""Create or update the django-q2 schedules every app declares (`<app>.tasks.SCHEDULES`).
Idempotent: run it at every release and start-up (scripts/run.sh, the release step, the tests)."""

import importlib

from django.apps import apps
from django.core.management.base import BaseCommand

from core.tasks import schedules_sync


def declared_schedules() -> list:
    """Every installed app's `tasks.SCHEDULES`, in INSTALLED_APPS order."""
    specs = []
    for config in apps.get_app_configs():
        try:
            module = importlib.import_module(f"{config.name}.tasks")
        except ModuleNotFoundError as error:
            if error.name != f"{config.name}.tasks":
                raise
            continue
        specs.extend(getattr(module, "SCHEDULES", []))
    return specs


class Command(BaseCommand):
    help = "Create or update the repeating background tasks (idempotent)."

    def handle(self, *args, **options):
        outcome = schedules_sync(declared_schedules())
        if options["verbosity"] >= 1:
            for name, what in outcome.items():
                self.stdout.write(f"{what:>9}  {name}")
