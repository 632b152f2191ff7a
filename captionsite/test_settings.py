"""Settings for the test suite: the real settings, with a queue name of their own so that test
tasks never reach a worker of a site running on the same broker."""

import os

os.environ.setdefault("Q_CLUSTER_NAME", "captionsite-test")
os.environ.setdefault("CACHE_KEY_PREFIX", "captionsite-test")

from captionsite.settings import *  # noqa: E402,F403

# Tests render pages without running collectstatic first.
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
