#!/usr/bin/env bash
# Regenerates pkg/generated/openapi from the served API packages (make generate).
set -euo pipefail
cd "$(dirname "$0")/.."
ver=$(go list -m -f '{{.Version}}' k8s.io/kube-openapi)
gen="$(go env GOPATH)/bin/openapi-gen"
if ! [ -x "$gen" ] || ! go version -m "$gen" | grep -q "$ver"; then
  GOFLAGS=-mod=mod go install "k8s.io/kube-openapi/cmd/openapi-gen@$ver"
fi
# Every versioned package of k8s.io/api: served types reference types of other versions
# (batch/v1 Jobs reference scheduling/v1alpha3, for one).
mapfile -t api < <(go list k8s.io/api/... | grep -E '/v[0-9]+((alpha|beta)[0-9]+)?$')
pkgs=(
  k8s.io/apimachinery/pkg/apis/meta/v1 k8s.io/apimachinery/pkg/runtime k8s.io/apimachinery/pkg/version
  k8s.io/apimachinery/pkg/api/resource k8s.io/apimachinery/pkg/util/intstr
  "${api[@]}"
  k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1
  k8s.io/kube-aggregator/pkg/apis/apiregistration/v1
)
"$gen" --output-dir pkg/generated/openapi --output-pkg github.com/skiff-k8s/skiff/pkg/generated/openapi \
  --output-file zz_generated.openapi.go --go-header-file hack/boilerplate.go.txt \
  --report-filename /dev/null "${pkgs[@]}"
