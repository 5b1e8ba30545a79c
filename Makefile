# skiff — see README.md. `make build` writes bin/skiff.
KUBE_VERSION ?= v1.37.2
SKIFF_VERSION ?= v0.1.0
GIT_COMMIT := $(shell git rev-parse --verify -q HEAD 2>/dev/null || echo unknown)
BUILD_DATE := $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
VPKG := k8s.io/component-base/version
LDFLAGS := -s -w \
  -X $(VPKG).gitVersion=$(KUBE_VERSION)+skiff \
  -X $(VPKG).gitMajor=1 -X $(VPKG).gitMinor=37 \
  -X $(VPKG).gitCommit=$(GIT_COMMIT) -X $(VPKG).gitTreeState=clean -X $(VPKG).buildDate=$(BUILD_DATE) \
  -X k8s.io/client-go/pkg/version.gitVersion=$(KUBE_VERSION)+skiff \
  -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=37 \
  -X github.com/skiff-k8s/skiff/pkg/version.Skiff=$(SKIFF_VERSION)
GO ?= go
# Build tags that drop Go's plugin loading (containerd's and kustomize's): importing the
# standard "plugin" package makes the linker export every symbol and keep every method,
# a third more binary and resident pages for nothing skiff uses.
TAGS := no_dynamic_plugins,kustomize_disable_go_plugin_support
DATA_DIR ?= $(if $(filter 0,$(shell id -u)),/var/lib/skiff,$(HOME)/.skiff)

.PHONY: build test lint generate bench run clean deps images

build:
	$(GO) build -trimpath -tags $(TAGS) -ldflags '$(LDFLAGS)' -o bin/skiff ./cmd/skiff

deps:
	bash scripts/install-deps.sh

# images builds the test images (skiff.test/agnhost-lite:1, skiff.test/busybox:1) as tarballs
# in bin/images, since tests reach no registry; the busybox one needs busybox-static (make deps).
images:
	$(GO) run ./tests/images/build -out bin/images

# generate rebuilds the OpenAPI definitions and the proxy's eBPF objects (clang, llvm, libbpf-dev).
generate:
	hack/update-openapi.sh
	$(GO) generate ./pkg/proxy/...

# lint fails on unformatted code and on what go vet finds.
lint:
	@out=$$(git ls-files '*.go' | grep -v '/generated/' | xargs gofmt -l); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# test runs every test the README promises: lint, unit tests, then integration tests
# that start bin/skiff and drive it with client-go and kubectl, then the end-to-end tests
# of the node agent (as root, with containerd and the test images; they skip otherwise).
test: lint build images
	$(GO) test -race -count=1 ./pkg/... ./cmd/... ./tests/images/...
	SKIFF_BIN=$(CURDIR)/bin/skiff $(GO) test -race -count=1 -timeout 30m ./tests/integration/...
	SKIFF_BIN=$(CURDIR)/bin/skiff SKIFF_IMAGES=$(CURDIR)/bin/images $(GO) test -race -count=1 -timeout 20m ./tests/e2e/...

bench: build
	SKIFF_BIN=$(CURDIR)/bin/skiff $(GO) test -count=1 -timeout 60m -run '^$$' -bench . -benchtime 1x ./tests/bench/...

run: build
	./bin/skiff server --data-dir $(DATA_DIR)

clean:
	rm -rf bin
