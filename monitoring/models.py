from django.db import models


class EvaluationRun(models.Model):
    """One scoring of a model on an annotated dataset (`manage.py evaluate`), kept so that
    models and fine-tuned versions can be compared side by side."""

    class Status(models.TextChoices):
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    model_spec = models.CharField(max_length=300, help_text="What was asked for: registry name, folder or hub id.")
    model_id = models.CharField(max_length=300, blank=True, db_index=True)
    model_version = models.CharField(max_length=64, blank=True)
    dataset = models.CharField(max_length=300, help_text="Name of the annotated dataset.")
    annotations_path = models.CharField(max_length=500)
    images_dir = models.CharField(max_length=500)
    image_count = models.PositiveIntegerField(default=0)
    params = models.JSONField(default=dict, blank=True)
    # Metric name -> value, e.g. {"BLEU-4": 0.21, "CIDEr": 0.65}.
    scores = models.JSONField(default=dict, blank=True)
    captions_file = models.FileField(max_length=300, blank=True, help_text="Per-image captions and references (JSON).")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DONE)
    error = models.TextField(blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.model_id or self.model_spec} on {self.dataset} ({self.created_at:%Y-%m-%d %H:%M})"


class WorkerHeartbeat(models.Model):
    """The last sign of life of one worker process, and whether it could load the configured
    model the last time it tried. The web process reads it for /health/ready/; it never loads a
    model itself."""

    worker_id = models.CharField(max_length=200, unique=True)
    seen_at = models.DateTimeField(db_index=True)
    model_spec = models.CharField(max_length=300, blank=True, help_text="The active model as the worker saw it.")
    model_id = models.CharField(max_length=300, blank=True)
    model_ok = models.BooleanField(null=True, help_text="None until the worker has tried to load the model.")
    model_error = models.TextField(blank=True)
    model_checked_at = models.DateTimeField(null=True, blank=True)
    busy_since = models.DateTimeField(
        null=True, blank=True, help_text="When its current captioning run started; empty while it is idle."
    )
    model_info = models.JSONField(
        default=dict,
        blank=True,
        help_text="The loaded captioner's info() at the last check: device, dtype and why (dtype_reason), batch size.",
    )

    class Meta:
        db_table = "captions_workerheartbeat"  # made by the captions app; moved here with its rows
        ordering = ["-seen_at"]
        # /metrics, the dashboard, health details and engine details of captions: operators only.
        permissions = [("view_operations", "Can see metrics, the dashboard and health details")]

    def __str__(self) -> str:
        return f"{self.worker_id} seen {self.seen_at:%Y-%m-%d %H:%M:%S}"
