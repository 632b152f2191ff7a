from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        # The Prometheus collectors observe what the lower layers report through core.metrics.
        from captions import signals
        from core import metrics as hooks
        from monitoring import metrics, services

        hooks.observer_register(metrics)
        # Inference engines (openai: specs, fallback chains) report per-engine events to mlcore's hook.
        import mlcore

        mlcore.add_engine_listener(metrics.observe_engine_event)
        # A captioning worker at work is a live worker: its heartbeat is written here.
        signals.worker_active.connect(services.worker_heartbeat_on_activity, dispatch_uid="monitoring.worker_heartbeat")
