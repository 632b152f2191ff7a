#!/usr/bin/env bash
# Install what the tests need and run every test (slow and browser tests included). Extra
# arguments go to pytest. With DATABASE_URL and REDIS_URL set, the same suite runs on PostgreSQL
# and Redis.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt

# The browser tests inject axe-core from node_modules (pinned in package.json and package-lock.json).
if [ ! -f node_modules/axe-core/axe.min.js ]; then
  if command -v npm >/dev/null; then
    npm ci --no-audit --no-fund --loglevel=error
  else
    echo "npm is missing: the browser tests will be skipped (install Node.js and npm, e.g. apt-get install -y npm)."
  fi
fi
if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  echo "Chromium is missing: the browser tests will be skipped (apt-get install -y chromium)."
fi

exec .venv/bin/python -m pytest "$@"
