#!/usr/bin/env bash
# Install the development requirements and run every test (slow and browser tests included).
# Extra arguments go to pytest. With DATABASE_URL and REDIS_URL set, the same suite runs on
# PostgreSQL and Redis.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
exec .venv/bin/python -m pytest "$@"
