#!/usr/bin/env bash
# Set everything up, check lint, format and types, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Lint, format and types first: they take seconds and fail before the suite's minutes (config in pyproject.toml).
.venv/bin/ruff format --check .
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
