#!/usr/bin/env bash
# The static checks CI runs before the tests: the import layering (import-linter, contracts in
# pyproject.toml) and ruff (rules in pyproject.toml). Creates the virtual environment the way
# scripts/test.sh does.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
.venv/bin/lint-imports
.venv/bin/ruff check .
