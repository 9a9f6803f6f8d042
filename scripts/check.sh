#!/usr/bin/env bash
# The project's gates, as CI runs them: lint, format, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${MOODLENS_VENV:-.venv}
export PATH="$PWD/$VENV/bin:$PATH"
ruff check src tests benchmarks
ruff format --check src tests benchmarks
mypy
python -m pytest "$@"
