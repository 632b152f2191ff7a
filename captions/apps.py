from django.apps import AppConfig


class CaptionsConfig(AppConfig):
    name = "captions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from captions.uploads import multipart_file_names_install

        multipart_file_names_install()
