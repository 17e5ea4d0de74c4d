#!/usr/bin/env bash
# Runs the trainer's Python tests (driver/trainer/tests) with the interpreter
# that has Debian's python3-torch: $BOOSTGEN_PYTHON, set by
# scripts/setup/python.sh (run here when the variable is missing).
# Lints first (pyflakes; black --check, settings in driver/trainer/pyproject.toml).
# Extra arguments go to pytest. Exits non-zero when a check or a test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BOOSTGEN_PYTHON:-}" ]; then
	eval "$(scripts/setup/python.sh)"
fi
cd driver/trainer
export PYTHONDONTWRITEBYTECODE=1
"$BOOSTGEN_PYTHON" -m pyflakes boostgen_trainer tests bench
"$BOOSTGEN_PYTHON" -m black --check --quiet boostgen_trainer tests bench
exec "$BOOSTGEN_PYTHON" -m pytest -q -p no:cacheprovider -rs tests "$@"
