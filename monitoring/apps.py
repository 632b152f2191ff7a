from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        # The Prometheus collectors observe what the lower layers report through core.metrics.
        from core import metrics as hooks
        from monitoring import metrics

        hooks.observer_register(metrics)
