from django.apps import AppConfig


class CaptionsConfig(AppConfig):
    name = "captions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from captions.uploads import multipart_file_names_install

        multipart_file_names_install()

        from accounts.services import user_delete_step_register
        from captions.services import images_delete_all_of

        # An account's deletion removes its images with their files, not only the rows.
        user_delete_step_register(lambda *, user: images_delete_all_of(owner=user))
