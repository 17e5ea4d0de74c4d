#!/usr/bin/env bash
# Installs Debian's ffmpeg (the video source decodes clips through it) and
# prints `export BOOSTGEN_FFMPEG=...` on stdout (everything else on stderr):
#   eval "$(scripts/setup/ffmpeg.sh)"
# Idempotent: when ffmpeg is already on PATH nothing is installed.
set -euo pipefail

if ! command -v ffmpeg >/dev/null 2>&1; then
  command -v apt-get >/dev/null || { echo "ffmpeg.sh: ffmpeg is missing and apt-get is not available; install ffmpeg with your package manager" >&2; exit 1; }
  sudo=""
  [[ "$(id -u)" == 0 ]] || sudo="sudo"
  echo "ffmpeg.sh: installing ffmpeg with apt-get" >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends ffmpeg >&2
fi

echo "export BOOSTGEN_FFMPEG=$(command -v ffmpeg)"
