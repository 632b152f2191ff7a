from django.apps import AppConfig


class CaptionsConfig(AppConfig):
    name = "captions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from captions.uploads import multipart_file_names_install

        multipart_file_names_install()

        from accounts.services import user_delete_step_register
        from captions.services.bulk import images_delete_all_of

        # An account's deletion removes its images with their files, not only the rows.
        user_delete_step_register(lambda *, user: images_delete_all_of(owner=user))

        from django_q.signals import post_spawn

        post_spawn.connect(_worker_started, dispatch_uid="captions.worker_started")

        # Custom caption styles (CaptionStyleDefinition) are registered into mlcore on a web
        # process's first request and again at most every STYLE_SYNC_SECONDS after (not here:
        # no database queries while the apps load); workers sync before every batch.
        from django.core.signals import request_started

        request_started.connect(_styles_sync_on_request, dispatch_uid="captions.custom_styles_sync")

        # The API's rate settings are read per request: a typo is a system check error at start.
        from django.core import checks

        from core.api import rate_settings_check

        checks.register(rate_settings_check, checks.Tags.security)


def _worker_started(sender, proc_name=None, **kwargs) -> None:
    """A django-q2 worker process started: release the images claimed by dead worker processes of
    this host (a qcluster killed with SIGKILL) and wake the workers for them, instead of waiting
    for their leases to expire."""
    import logging
    import multiprocessing

    from captions.services.queue import caption_workers_wake, images_release_dead_local_claims
    from captions.services.worker import worker_watch_start

    if multiprocessing.current_process().name != "MainProcess":  # a qcluster worker, not a sync task
        worker_watch_start()  # heartbeat and lease expiry that never wait behind a captioning task
    try:
        if images_release_dead_local_claims():
            caption_workers_wake()
    except Exception:  # the database is not reachable yet: the lease expiry and the sweep recover
        logging.getLogger(__name__).exception("Could not release the claims of dead workers at start.")


def _styles_sync_on_request(**kwargs) -> None:
    from captions.services.styles import custom_styles_sync

    custom_styles_sync(force=False)
