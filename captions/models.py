import uuid

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models

# The longest model spec (a name, an engine, ensemble:/fallback: of them) an image can store: every
# place a person names a model (the API, the forms) refuses a longer one with a 400 / form error,
# so a worker never computes a caption it cannot store.
MODEL_SPEC_MAX_LENGTH = 300

class Batch(models.Model):
    """The images of one multi-file upload, so they can be followed and exported together."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="batches")
    name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "batches"

    def __str__(self) -> str:
        return self.name or f"Batch {self.pk}"


class Image(models.Model):
    """An uploaded image. Its status row is the queue of record for captioning."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        PROCESSING = "processing", "Processing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class FailureKind(models.TextChoices):
        MODEL_UNAVAILABLE = "model_unavailable", "The model could not be loaded"
        NO_WORDS = "no_words", "The model produced no words"
        UNSUPPORTED_STYLE = "unsupported_style", "The model cannot write this style or language"
        INVALID_PARAMS = "invalid_params", "Invalid generation parameters"
        ENGINE_UNAVAILABLE = "engine_unavailable", "The captioning engine did not answer"
        IMAGE_UNREADABLE = "image_unreadable", "The image could not be read"
        MODEL_ERROR = "model_error", "The model raised an error"
        WORKER_STOPPED = "worker_stopped", "The worker stopped"

    FINAL_STATUSES = (Status.DONE, Status.FAILED)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="images")
    batch = models.ForeignKey(Batch, on_delete=models.SET_NULL, null=True, blank=True, related_name="images")

    file = models.FileField(max_length=300)
    thumbnail = models.FileField(max_length=300, blank=True)
    original_filename = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64, db_index=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    format = models.CharField(max_length=10)
    byte_size = models.PositiveBigIntegerField()

    # What to caption with: the generation parameters (mlcore GenerationParams as a dict; the
    # requested caption style and language live here, as "style" and "language") and,
    # when not the configured default, the model spec.
    params = models.JSONField(default=dict, blank=True)
    model_spec = models.CharField(max_length=MODEL_SPEC_MAX_LENGTH, blank=True)

    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    available_at = models.DateTimeField(db_index=True, help_text="Not claimed before this time (retry back-off).")

    class Priority(models.IntegerChoices):
        BULK = 0, "Bulk (uploads, batches, re-captions)"
        INTERACTIVE = 1, "Interactive (predict and the demo: somebody waits)"

    # Claimed before every bulk image, whoever owns them (captions.services.queue.images_claim).
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.BULK, db_default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    claim_token = models.CharField(max_length=64, blank=True, db_index=True)
    error = models.TextField(blank=True)
    # Metadata of the uploaded file that could not be read (damaged, too large, refused XML) and
    # was ignored: said on the image's page, never a failure of the upload.
    file_metadata_note = models.TextField(blank=True)
    # What kind of failure `error` describes (set by the worker when it records the failure), so
    # the owner is told the right thing without guessing from the words (captions_tags.plain_failure).
    error_kind = models.CharField(max_length=24, choices=FailureKind.choices, blank=True)

    current_caption = models.ForeignKey(
        "Caption", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The next model caption may replace text a person wrote or approved (an explicit, confirmed
    # "replace human text too" on a re-caption); cleared when that caption is stored.
    replace_human = models.BooleanField(default=False)
    # Text read from the image by Tesseract (mlcore.ocr) in the worker: the confident words, their
    # mean confidence (0..1), a guess of their language, and what happened: "" (not asked),
    # done, failed (time limit or error: ocr_error says), unavailable (Tesseract missing).
    ocr_text = models.TextField(blank=True)
    ocr_confidence = models.FloatField(null=True, blank=True)
    ocr_language = models.CharField(max_length=35, blank=True)
    ocr_status = models.CharField(max_length=12, blank=True)
    ocr_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # PostgreSQL only: file name and caption text, kept by database triggers (captions.search;
    # its GIN index is made by migration 0006). SQLite searches an FTS5 table instead; NULL there.
    search_document = SearchVectorField(null=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "-created_at"]),
            models.Index(fields=["status", "available_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="processing") | models.Q(claim_expires_at__isnull=False),
                name="processing_image_has_lease",
            )
        ]

    def __str__(self) -> str:
        return f"{self.original_filename} ({self.status})"

    @property
    def lease_stale(self) -> bool:
        """Processing, but its worker stopped renewing the lease (expired), or has held the image
        for more than CAPTION_STALE_PROCESSING_SECONDS: its owner may retry it."""
        if self.status != self.Status.PROCESSING:
            return False
        from django.utils import timezone

        now = timezone.now()
        if self.claim_expires_at is not None and self.claim_expires_at < now:
            return True
        return self.claimed_at is not None and (
            (now - self.claimed_at).total_seconds() > settings.CAPTION_STALE_PROCESSING_SECONDS
        )

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES


class Caption(models.Model):
    """One caption of an image. Older rows are its history; Image.current_caption is the one shown."""

    class Source(models.TextChoices):
        MODEL = "model", "Model"
        CACHE = "cache", "Model (reused)"
        HUMAN = "human", "Human-edited"
        FILE = "file", "From the file's metadata"

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="captions")
    text = models.TextField()
    raw_text = models.TextField(blank=True)
    confidence = models.FloatField(null=True, blank=True)
    candidates = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.MODEL)
    model_id = models.CharField(max_length=300, blank=True, db_index=True)
    model_version = models.CharField(max_length=64, blank=True)
    params = models.JSONField(default=dict, blank=True)
    inference_ms = models.FloatField(null=True, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    needs_review = models.BooleanField(default=False, db_index=True)
    # What was asked and how (mlcore CaptionResult.style / .language / .prompt / .tags):
    # the style's name, the BCP 47 language, the exact prompt sent (empty for prompt-less models)
    # and, for the tags style, the keywords as a list of strings (None otherwise).
    style = models.CharField(max_length=40, default="alt", db_index=True)
    language = models.CharField(max_length=35, default="en")
    prompt = models.TextField(blank=True)
    tags = models.JSONField(null=True, blank=True)
    # Engine metadata: {"confidence_source": "logprobs"|"scores"|"unknown"|..., "engine": spec that
    # answered, "fallback": {"engine", "position", "failed": [{"engine", "error"}]}} (staff only).
    details = models.JSONField(default=dict, blank=True)
    # sha256 of (image bytes, model id, model version, params): equal keys mean equal captions.
    cache_key = models.CharField(max_length=64, blank=True, db_index=True)
    # Alt text fit for its purpose (captions.services.alttext): the long description of a complex
    # image, the quality checker's findings (mlcore.alttext.check_alt_text, as dicts), and when a
    # person approved the text as it is (an approved caption is "human-approved", the top priority).
    extended_description = models.TextField(blank=True)
    checks = models.JSONField(default=list, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    reused_from = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.text[:80]



class CaptioningDefaults(models.Model):
    """One change of which model and which review threshold caption now. The newest row is in
    force and holds both values (a change of one copies the other); older rows are the history.
    Written only by captions.services.captioning_defaults_set; read by
    captions.selectors.captioning_defaults."""

    model_spec = models.CharField(
        max_length=500, blank=True, help_text="What the workers load; empty means the configured CAPTION_MODEL."
    )
    review_threshold = models.FloatField(
        null=True, blank=True, help_text="Confidence below which a caption needs review; empty: CAPTION_REVIEW_THRESHOLD."
    )
    reason = models.CharField(max_length=200, blank=True, help_text="Why it changed, for the history.")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "captioning defaults"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(review_threshold__isnull=True)
                | models.Q(review_threshold__gte=0, review_threshold__lte=1),
                name="captioning_defaults_threshold_0_to_1",
            )
        ]

    def __str__(self) -> str:
        return f"{self.model_spec or 'CAPTION_MODEL'}, threshold {self.review_threshold}"


class CaptionStyleDefinition(models.Model):
    """A caption style defined by staff (mlcore.register_style): registered into mlcore in every
    process by captions.services.styles (at start-up, on save/delete, and per worker batch)."""

    class Kind(models.TextChoices):
        SENTENCE = "sentence", "One sentence"
        PARAGRAPH = "paragraph", "A paragraph"
        TAGS = "tags", "Comma-separated keywords (stored as a list)"

    name = models.CharField(
        max_length=40, unique=True, help_text="Lowercase letters, digits, - and _ (starts with a letter); e.g. 'product'."
    )
    prompt = models.TextField(
        max_length=2000,
        help_text="The instruction sent to vision-language models; {language} becomes the language's English name.",
    )
    max_chars = models.PositiveIntegerField(default=0, help_text="Hard limit of the caption in characters; 0: none.")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.SENTENCE)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class IdempotentRequest(models.Model):
    """The first answer to an upload sent with an `Idempotency-Key` header, committed in the same
    transaction as the images it announces: a client that retries with the same key (its
    connection was lost after COMMIT) gets this answer again instead of storing the files twice.
    Kept IDEMPOTENCY_KEEP (captions.services.idempotency)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    endpoint = models.CharField(max_length=100)
    key = models.CharField(max_length=255)
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "endpoint", "key"], name="idempotent_request_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.key}"


class ImageEmbedding(models.Model):
    """The semantic-search vector of an image's current alt text (+ its OCR text): a unit-length
    float32 vector (mlcore.embeddings) stored as bytes, with the model that made it and the hash of
    the text it embeds (an unchanged text is not embedded again)."""

    image = models.OneToOneField(Image, on_delete=models.CASCADE, related_name="embedding")
    model_name = models.CharField(max_length=200)
    text_hash = models.CharField(max_length=64)
    vector = models.BinaryField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"embedding of image {self.image_id} ({self.model_name})"
