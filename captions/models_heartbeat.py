from django.db import models


class WorkerHeartbeat(models.Model):
    """The last sign of life of one worker process, and whether it could load the configured
    model the last time it tried. The web process reads it for /health/ready/; it never loads a
    model itself."""

    worker_id = models.CharField(max_length=200, unique=True)
    seen_at = models.DateTimeField(db_index=True)
    model_spec = models.CharField(max_length=300, blank=True, help_text="CAPTION_MODEL as the worker saw it.")
    model_id = models.CharField(max_length=300, blank=True)
    model_ok = models.BooleanField(null=True, help_text="None until the worker has tried to load the model.")
    model_error = models.TextField(blank=True)
    model_checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "captions"
        ordering = ["-seen_at"]

    def __str__(self) -> str:
        return f"{self.worker_id} seen {self.seen_at:%Y-%m-%d %H:%M:%S}"
