from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from captions import signals
        from monitoring import services

        # Metrics need no wiring: every layer records into its own Prometheus collectors (core.metrics).
        # A captioning worker at work is a live worker: its heartbeat is written here.
        signals.worker_active.connect(services.worker_heartbeat_on_activity, dispatch_uid="monitoring.worker_heartbeat")
