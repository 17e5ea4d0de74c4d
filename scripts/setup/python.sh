#!/usr/bin/env bash
# Installs what the trainer's tests need: Debian's CPU build of PyTorch and its
# friends, and pyflakes and black for the lint step of scripts/test-trainer.sh. They work only with Debian's own interpreter, /usr/bin/python3 (a
# pyenv or venv python3 earlier on PATH cannot import them), so that is the
# interpreter this script exports. apt keeps its own cache, outside the repo.
# Prints `export BOOSTGEN_PYTHON=...` on stdout; everything else goes to stderr.
set -euo pipefail

py=/usr/bin/python3
pkgs=(python3-torch python3-zstandard python3-pytest python3-pil python3-numpy python3-boto3 pyflakes3 black)

if ! "$py" -c 'import torch, zstandard, pytest, PIL, numpy, boto3, pyflakes, black' >/dev/null 2>&1; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "python.sh: need root to apt-get install ${pkgs[*]}" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update >&2
	apt-get install -y --no-install-recommends "${pkgs[@]}" >&2
	"$py" -c 'import torch, zstandard, pytest, PIL, numpy, boto3, pyflakes, black' >&2
fi

echo "export BOOSTGEN_PYTHON=$py"
