#!/usr/bin/env bash
# Installs Debian's chromium for the preview page test (gen/preview opens the
# page in a real headless browser) and prints `export BOOSTGEN_CHROMIUM=...`
# on stdout (everything else goes to stderr):
#   eval "$(scripts/setup/chromium.sh)"
# Idempotent: when chromium is already installed it only prints the variable.
# The browser comes from apt, so it lives where apt puts it (/usr/bin), not in
# ${BOOSTGEN_CACHE:-$HOME/.cache/boostgen}; the stamp below records the version.
set -euo pipefail

CACHE="${BOOSTGEN_CACHE:-$HOME/.cache/boostgen}"
exe="$(command -v chromium || true)"

if [[ -z "$exe" ]]; then
	command -v apt-get >/dev/null || { echo "chromium.sh: apt-get is needed (install Debian's chromium package yourself and set BOOSTGEN_CHROMIUM)" >&2; exit 1; }
	sudo=""
	if [[ "$(id -u)" != 0 ]]; then
		command -v sudo >/dev/null || { echo "chromium.sh: run as root or install sudo" >&2; exit 1; }
		sudo=sudo
	fi
	echo "chromium.sh: installing chromium with apt-get" >&2
	export DEBIAN_FRONTEND=noninteractive
	# A missing package list (fresh containers) makes install fail; update first then.
	if ! $sudo apt-get install -y --no-install-recommends chromium fonts-dejavu-core >&2; then
		$sudo apt-get update >&2
		$sudo apt-get install -y --no-install-recommends chromium fonts-dejavu-core >&2
	fi
	exe="$(command -v chromium)"
fi

mkdir -p "$CACHE"
"$exe" --version >"$CACHE/chromium.version" 2>/dev/null || true
echo "chromium.sh: $(cat "$CACHE/chromium.version" 2>/dev/null || echo "$exe")" >&2
echo "export BOOSTGEN_CHROMIUM=$exe"
