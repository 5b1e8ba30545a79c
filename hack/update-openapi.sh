#!/usr/bin/env bash
# Regenerates pkg/generated/openapi from the served API packages (make generate).
set -euo pipefail
cd "$(dirname "$0")/.."
ver=$(go list -m -f '{{.Version}}' k8s.io/kube-openapi)
gen="$(go env GOPATH)/bin/openapi-gen"
if ! [ -x "$gen" ] || ! go version -m "$gen" | grep -q "$ver"; then
  GOFLAGS=-mod=mod go install "k8s.io/kube-openapi/cmd/openapi-gen@$ver"
fi
# The served versions, plus the versions their types reference (batch/v1 Jobs reference
# scheduling/v1alpha3). Definitions are built eagerly at start: listing only what is
# served keeps the binary and the start-up work small. pkg/apiserver's tests fail if a
# served type references a definition this list misses.
pkgs=(
  k8s.io/apimachinery/pkg/apis/meta/v1 k8s.io/apimachinery/pkg/runtime k8s.io/apimachinery/pkg/version
  k8s.io/apimachinery/pkg/api/resource k8s.io/apimachinery/pkg/util/intstr
  k8s.io/api/core/v1 k8s.io/api/admissionregistration/v1 k8s.io/api/apps/v1 k8s.io/api/authentication/v1
  k8s.io/api/authorization/v1 k8s.io/api/autoscaling/v1 k8s.io/api/autoscaling/v2 k8s.io/api/batch/v1
  k8s.io/api/certificates/v1 k8s.io/api/coordination/v1 k8s.io/api/discovery/v1 k8s.io/api/events/v1
  k8s.io/api/flowcontrol/v1 k8s.io/api/networking/v1 k8s.io/api/node/v1 k8s.io/api/policy/v1
  k8s.io/api/rbac/v1 k8s.io/api/resource/v1 k8s.io/api/scheduling/v1 k8s.io/api/storage/v1
  k8s.io/api/storagemigration/v1
  k8s.io/api/scheduling/v1alpha3
  k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1
  k8s.io/kube-aggregator/pkg/apis/apiregistration/v1
  k8s.io/metrics/pkg/apis/metrics/v1beta1
)
"$gen" --output-dir pkg/generated/openapi --output-pkg github.com/skiff-k8s/skiff/pkg/generated/openapi \
  --output-file zz_generated.openapi.go --go-header-file hack/boilerplate.go.txt \
  --report-filename /dev/null "${pkgs[@]}"
