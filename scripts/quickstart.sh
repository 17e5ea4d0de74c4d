#!/usr/bin/env bash
# Builds boostgen and runs the quickstart: the built-in synthetic scenes (no
# network, no models) into out/quickstart, then validates the result.
# Extra arguments go to `boostgen run` (e.g. --workers 1, --seed 7).
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/boostgen ./cmd/boostgen
rm -rf out/quickstart
bin/boostgen run examples/quickstart.yaml --out out/quickstart "$@"
bin/boostgen validate out/quickstart
