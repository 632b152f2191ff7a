"""Settings for the test suite: the real settings, with a queue name of their own so that test
tasks never reach a worker of a site running on the same broker."""

import os

# The pid keeps test runs that share one Redis apart; worker subprocesses get the name passed in.
os.environ.setdefault("Q_CLUSTER_NAME", f"captionsite-test-{os.getpid()}")
os.environ.setdefault("CACHE_KEY_PREFIX", "captionsite-test")

from captionsite.settings import *  # noqa: E402,F403

# A test database per test run, in a file (not in memory) so that worker subprocesses started by
# the tests open the same database; the pid keeps concurrent runs on one machine apart.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-captionsite-{os.getpid()}.sqlite3")}  # noqa: F405
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_captionsite_{os.getpid()}"}  # noqa: F405

# Tests render pages without running collectstatic first.
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# OCR (Tesseract, seconds per image on a shared CPU) only where a test asks for it: OCR_ENABLED
# in the test, a request's ocr=on, or purpose text; a worker subprocess reads it from here too.
OCR_ENABLED = env.bool("OCR_ENABLED", default=False)  # noqa: F405

# Embeddings (a 90 MB model) only where a test turns semantic search on.
SEARCH_SEMANTIC_ENABLED = env.bool("SEARCH_SEMANTIC_ENABLED", default=False)  # noqa: F405
