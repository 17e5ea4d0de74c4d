#!/usr/bin/env bash
# Installs versitygw, a real S3 gateway, for the internal/blob/s3 tests and
# prints `export BOOSTGEN_VERSITYGW=...` on stdout (everything else goes to
# stderr), so that `eval "$(scripts/setup/versitygw.sh)"` works.
# Idempotent: a stamp file records the installed version, and a second run
# with the same version does nothing.
set -euo pipefail

VERSION=v1.8.0
CACHE="${BOOSTGEN_CACHE:-$HOME/.cache/boostgen}"
BIN="$CACHE/bin"
EXE="$BIN/versitygw"
STAMP="$BIN/versitygw.version"

if [[ -x "$EXE" && -f "$STAMP" && "$(cat "$STAMP")" == "$VERSION" ]]; then
	echo "versitygw $VERSION already in $EXE" >&2
else
	mkdir -p "$BIN"
	echo "building versitygw $VERSION into $BIN (a few minutes)..." >&2
	# Built from outside the repository so that it cannot touch our go.mod.
	(cd "$CACHE" && GOBIN="$BIN" nice -n 10 go install "github.com/versity/versitygw/cmd/versitygw@$VERSION") >&2
	echo "$VERSION" >"$STAMP"
fi

echo "export BOOSTGEN_VERSITYGW=$EXE"
