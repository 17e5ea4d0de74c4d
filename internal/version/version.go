// Package version holds boostgen's version, the one value that records,
// manifests, `boostgen version`, the Kubernetes user agent and labels, and
// the default trainer image tag all state, so that a release stamps it in
// one place:
//
//	go build -ldflags "-X github.com/boostgen/boostgen/internal/version.Version=0.2.0" ./cmd/boostgen
package version

// Version is boostgen's version.
var Version = "0.1.0"
