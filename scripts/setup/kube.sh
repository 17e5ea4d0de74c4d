#!/usr/bin/env bash
# Builds a real kube-apiserver and etcd from the Go module proxy for the
# driver's integration tests, into a cache outside the repository.
#
#   eval "$(scripts/setup/kube.sh)"
#
# prints on stdout:
#   export BOOSTGEN_KUBE_APISERVER=/…/kube-apiserver
#   export BOOSTGEN_ETCD=/…/etcd
#
# kube-apiserver comes from k8s.io/kubernetes, which cannot be required as a
# normal module (its go.mod points the k8s.io/* staging modules at ./staging),
# so we build it in a throwaway wrapper module that pins every staging module
# to the matching v0.x release. etcd is built in the same module graph, at the
# version Kubernetes itself tests against. The project's go.mod never sees any
# of this. First run: ~10 minutes on two cores; later runs: instant.
set -euo pipefail

KUBE_VERSION=v1.34.1   # matches k8s.io/* v0.34.1 required by kuberay ray-operator v1.5.0
STAGING_VERSION=v0.${KUBE_VERSION#v1.}
CACHE="${BOOSTGEN_CACHE:-$HOME/.cache/boostgen}/kube/${KUBE_VERSION}"
BIN="$CACHE/bin"
STAMP="$CACHE/.stamp"
STAMP_VALUE="$KUBE_VERSION build-2"  # bump the suffix when the build recipe changes

log() { echo "kube.sh: $*" >&2; }
export GOWORK=off  # never pick up a go.work from around the cache

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$STAMP_VALUE" && -x "$BIN/kube-apiserver" && -x "$BIN/etcd" ]]; then
	log "using cached $KUBE_VERSION in $BIN"
else
	command -v go >/dev/null || { log "go not found on PATH"; exit 1; }
	SRC="$CACHE/src"
	rm -rf "$SRC" "$STAMP"
	mkdir -p "$SRC" "$BIN"
	cd "$SRC"

	log "resolving k8s.io/kubernetes@$KUBE_VERSION"
	kube_mod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
	[[ -f "$kube_mod" ]] || { log "could not download k8s.io/kubernetes@$KUBE_VERSION"; exit 1; }

	{
		echo "module boostgen.local/kubebuild"
		echo
		echo "go 1.24.0"
		echo
		echo "require k8s.io/kubernetes $KUBE_VERSION"
		echo
		echo "replace ("
		# Every "k8s.io/x => ./staging/src/k8s.io/x" line becomes a pin to the release.
		sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => ./staging/src/.*#\t\1 => \1 '"$STAGING_VERSION"'#p' "$kube_mod"
		echo ")"
	} >go.mod
	cat >tools.go <<'GO'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
GO
	log "go mod tidy (downloads the module graph)"
	GOFLAGS=-mod=mod go mod tidy >&2
	log "building kube-apiserver (several minutes)"
	# Without these the server reports v0.0.0-master to its clients.
	minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
	ldflags="-X k8s.io/component-base/version.gitVersion=$KUBE_VERSION"
	ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
	ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
	CGO_ENABLED=0 nice -n 10 go build -trimpath -ldflags "$ldflags" -o "$BIN/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2
	log "building etcd"
	CGO_ENABLED=0 nice -n 10 go build -trimpath -o "$BIN/etcd" go.etcd.io/etcd/server/v3 >&2
	echo "$STAMP_VALUE" >"$STAMP"
	log "built into $BIN"
fi

echo "export BOOSTGEN_KUBE_APISERVER=$BIN/kube-apiserver"
echo "export BOOSTGEN_ETCD=$BIN/etcd"
