#!/usr/bin/env bash
# Builds boostgen and runs the quickstart: the built-in synthetic scenes (no
# network, no models) into out/quickstart, then validates the result, prints
# its statistics and writes a preview page to look at.
# Extra arguments go to `boostgen run` (e.g. --workers 1, --seed 7).
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/boostgen ./cmd/boostgen
rm -rf out/quickstart out/quickstart-preview
bin/boostgen run examples/quickstart.yaml --out out/quickstart "$@"
bin/boostgen validate out/quickstart
bin/boostgen stats out/quickstart
bin/boostgen preview out/quickstart --n 24 --out out/quickstart-preview
echo "open out/quickstart-preview/index.html to look at 24 records" >&2
