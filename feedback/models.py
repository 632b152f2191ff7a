"""Review decisions, ratings and corrections, and what the model learns from them.

The captions themselves stay in the captions app: a human edit is a new captions.Caption row
(source "human") that becomes the image's current caption; the rows here say who decided what.
"""

from django.conf import settings
from django.db import models

REVIEWERS_GROUP = "reviewers"


class ReviewAction(models.Model):
    """One reviewer decision on one caption, with the caption text before and after."""

    class Kind(models.TextChoices):
        APPROVE = "approve", "Approved"
        EDIT = "edit", "Edited"
        PICK = "pick", "Picked an alternative"
        REJECT = "reject", "Rejected and re-captioned"
        RECAPTION = "recaption", "Re-captioned"

    # Decisions that say the judged caption was wrong (the calibration's "bad" label).
    CORRECTING_KINDS = (Kind.EDIT, Kind.PICK, Kind.REJECT)

    image = models.ForeignKey("captions.Image", on_delete=models.CASCADE, related_name="review_actions")
    caption = models.ForeignKey(
        "captions.Caption", on_delete=models.SET_NULL, null=True, related_name="review_actions",
        help_text="The caption that was judged.",
    )
    result_caption = models.ForeignKey(
        "captions.Caption", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        help_text="The caption this decision created (edit, pick).",
    )
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="review_actions")
    action = models.CharField(max_length=10, choices=Kind.choices)
    text_before = models.TextField()
    text_after = models.TextField(blank=True)
    # The judged caption's confidence and model, copied so calibration and reports survive its deletion.
    confidence = models.FloatField(null=True, blank=True)
    model_id = models.CharField(max_length=300, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["action", "created_at"])]
        # Given to a user or a group (the "reviewers" group has it by membership): review every
        # user's images, originals included. is_staff alone (the admin's door) does not.
        permissions = [("review_all_images", "Can review every user's images")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.reviewer}: {self.text_before[:40]}"


class Feedback(models.Model):
    """A user's rating of a caption and, optionally, the caption they would have written."""

    MAX_CORRECTION_LENGTH = 300

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="caption_feedback")
    caption = models.ForeignKey("captions.Caption", on_delete=models.CASCADE, related_name="feedback")
    rating = models.PositiveSmallIntegerField()
    corrected_caption = models.CharField(max_length=MAX_CORRECTION_LENGTH, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        verbose_name_plural = "feedback"
        constraints = [
            models.UniqueConstraint(fields=["user", "caption"], name="one_feedback_per_user_and_caption"),
            models.CheckConstraint(condition=models.Q(rating__gte=1, rating__lte=5), name="feedback_rating_1_to_5"),
        ]

    def __str__(self) -> str:
        return f"{self.rating}/5 by {self.user}"


class ReviewerSettings(models.Model):
    """Per-user review preferences; a threshold here replaces the site's for that user's queue."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="review_settings")
    review_threshold = models.FloatField(null=True, blank=True)
    # The review queue's single-key shortcuts (WCAG 2.1.4): on or off, and each action's key where
    # the user changed it ({"approve": "y", ...}; the others keep feedback.shortcuts.DEFAULT_KEYS).
    shortcuts_enabled = models.BooleanField(default=True)
    shortcut_keys = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name_plural = "reviewer settings"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(review_threshold__isnull=True)
                | models.Q(review_threshold__gte=0, review_threshold__lte=1),
                name="review_threshold_0_to_1",
            )
        ]


class ConfidenceCalibration(models.Model):
    """One run of calibrate_confidence; an applied one sets the site's review threshold."""

    n = models.PositiveIntegerField()
    n_good = models.PositiveIntegerField()
    auroc = models.FloatField(null=True, blank=True)
    target_precision = models.FloatField()
    threshold = models.FloatField(null=True, blank=True)
    precision = models.FloatField(null=True, blank=True)
    recall = models.FloatField(default=0.0)
    coverage = models.FloatField(default=0.0)
    applied = models.BooleanField(default=False, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Calibration {self.created_at:%Y-%m-%d %H:%M}: threshold {self.threshold}"


class TrainingRun(models.Model):
    """A fine-tuning run on the exported feedback, and the model folder it produced."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    base_model = models.CharField(max_length=500)
    output_dir = models.CharField(max_length=500)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    params = models.JSONField(default=dict, blank=True)
    train_size = models.PositiveIntegerField(default=0)
    val_size = models.PositiveIntegerField(default=0)
    losses = models.JSONField(default=dict, blank=True, help_text='Loss per epoch: {"train": [...], "val": [...]}.')
    metrics_before = models.JSONField(default=dict, blank=True)
    metrics_after = models.JSONField(default=dict, blank=True)
    model_id = models.CharField(max_length=500, blank=True, help_text="The id captions made by this model record.")
    log = models.TextField(blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Run {self.pk}: {self.base_model} -> {self.output_dir} ({self.status})"


class ModelActivation(models.Model):
    """Which model the workers caption with: the newest row wins; older rows are the rollback list."""

    training_run = models.ForeignKey(TrainingRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="activations")
    model_spec = models.CharField(
        max_length=500, blank=True, help_text="What the workers load; empty means the configured CAPTION_MODEL."
    )
    activated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.model_spec or "the configured CAPTION_MODEL"
