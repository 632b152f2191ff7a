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
