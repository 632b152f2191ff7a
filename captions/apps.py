from django.apps import AppConfig


class CaptionsConfig(AppConfig):
    name = "captions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Custom caption styles (CaptionStyleDefinition) are registered into mlcore on a web
        # process's first request and again at most every STYLE_SYNC_SECONDS after (not here:
        # no database queries while the apps load); workers sync before every batch.
        from django.core.signals import request_started

        request_started.connect(_styles_sync_on_request, dispatch_uid="captions.custom_styles_sync")


def _styles_sync_on_request(**kwargs) -> None:
    from captions.services.styles import custom_styles_sync

    custom_styles_sync(force=False)
