#!/usr/bin/env bash
# Installs the ONNX Runtime shared library (CPU build) that internal/ort loads,
# taken from the onnxruntime-node package on the npm registry, into
#   ${BOOSTGEN_CACHE:-$HOME/.cache/boostgen}/ort/<version>/
# and prints `export BOOSTGEN_ORT_LIB=...` on stdout (everything else on stderr):
#   eval "$(scripts/setup/ort.sh)"
# Idempotent: a second run only checks the installed file.
set -euo pipefail

ORT_VERSION="${BOOSTGEN_ORT_VERSION:-1.24.3}"
cache="${BOOSTGEN_CACHE:-$HOME/.cache/boostgen}/ort/${ORT_VERSION}"
lib="$cache/libonnxruntime.so.1"

case "$(uname -s)/$(uname -m)" in
  Linux/x86_64) arch=x64 ;;
  Linux/aarch64 | Linux/arm64) arch=arm64 ;;
  *) echo "ort.sh: unsupported platform $(uname -s)/$(uname -m) (the npm package ships Linux x64/arm64 libraries)" >&2; exit 1 ;;
esac

if [[ ! -s "$lib" ]]; then
  command -v npm >/dev/null || { echo "ort.sh: npm is needed (apt-get install npm)" >&2; exit 1; }
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  echo "ort.sh: fetching onnxruntime-node@${ORT_VERSION} from the npm registry" >&2
  (cd "$tmp" && npm pack --silent "onnxruntime-node@${ORT_VERSION}" >/dev/null)
  tgz=("$tmp"/onnxruntime-node-*.tgz)
  src="package/bin/napi-v6/linux/${arch}"
  tar -xzf "${tgz[0]}" -C "$tmp" "$src"
  # Copy every shared library beside libonnxruntime.so.1 (providers, if a
  # future package ships them), but not the Node binding.
  rm -rf "$cache.tmp"
  mkdir -p "$cache.tmp"
  find "$tmp/$src" -maxdepth 1 -name '*.so*' -exec cp {} "$cache.tmp/" \;
  [[ -s "$cache.tmp/libonnxruntime.so.1" ]] || { echo "ort.sh: libonnxruntime.so.1 not found in the package under $src" >&2; exit 1; }
  rm -rf "$cache"
  mv "$cache.tmp" "$cache"
fi

echo "export BOOSTGEN_ORT_LIB=$lib"
