#!/usr/bin/env bash
# Runs every boostgen test on a fresh machine. It first installs what the
# tests need, each into a cache outside the repo
# (${BOOSTGEN_CACHE:-~/.cache/boostgen}), so a second run is fast: every
# scripts/setup/*.sh prints the `export NAME=…` lines its tests look for.
# BOOSTGEN_TEST_REQUIRE=1 turns "tool missing, skipping" into a failure, so
# nothing is silently left out.
set -euo pipefail
cd "$(dirname "$0")/.."
export BOOSTGEN_CACHE="${BOOSTGEN_CACHE:-$HOME/.cache/boostgen}"
mkdir -p "$BOOSTGEN_CACHE"

for setup in scripts/setup/*.sh; do
	echo "== $setup" >&2
	exports=$(bash "$setup")
	eval "$exports"
done
export BOOSTGEN_TEST_REQUIRE=1

echo "== go build" >&2
go build -o bin/boostgen ./cmd/boostgen
export BOOSTGEN_BIN="$PWD/bin/boostgen"
export BOOSTGEN_QUICKSTART="$PWD/examples/quickstart.yaml"

echo "== go vet" >&2
go vet ./...
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi

for extra in scripts/test-*.sh; do
	[ -e "$extra" ] || continue
	echo "== $extra" >&2
	bash "$extra"
done

echo "== go test" >&2
go test -timeout 30m ./...
