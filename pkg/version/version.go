// Package version holds the skiff release and the Kubernetes version it serves.
//
// The Kubernetes version reported by /version and `skiff --version` is set at link time
// through k8s.io/component-base/version (see the Makefile's LDFLAGS); this package
// reads it back and adds skiff's own release string.
package version

import (
	"fmt"

	"k8s.io/component-base/version"
)

// Skiff is skiff's own release, set at link time.
var Skiff = "v0.1.0-dev"

// String is the one-line version `skiff --version` prints.
func String() string {
	info := version.Get()
	return fmt.Sprintf("skiff %s (kubernetes %s, %s, %s)", Skiff, info.GitVersion, info.GoVersion, info.Platform)
}

// Kubernetes is the Kubernetes version skiff serves and its kubelet reports
// (v1.37.2+skiff in a release build).
func Kubernetes() string { return version.Get().GitVersion }
