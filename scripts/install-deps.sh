#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build, run and test skiff:
# a C compiler (cgo SQLite), make, git, and a Go toolchain new enough for go.mod
# (Debian's golang-go bootstraps; the go.mod toolchain comes from the Go module proxy);
# and for the node agent: containerd, runc, the CNI plugins, iptables and nftables (pod
# masquerade), and busybox-static (the busybox test image of `make images`).
# Only what is missing is installed, so running it again does nothing.
set -euo pipefail
need=()
command -v gcc >/dev/null || need+=(gcc libc6-dev)
command -v make >/dev/null || need+=(make)
command -v git >/dev/null || need+=(git)
command -v curl >/dev/null || need+=(curl)
command -v go >/dev/null || [ -x /usr/local/go/bin/go ] || need+=(golang-go)
# dpkg -s rather than command -v where another package can provide the same path.
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
# The busybox image needs a static busybox: Debian's plain busybox is dynamically linked.
have_pkg busybox-static || need+=(busybox-static)
command -v iptables >/dev/null || [ -x /usr/sbin/iptables ] || need+=(iptables)
command -v nft >/dev/null || [ -x /usr/sbin/nft ] || need+=(nftables)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root to install: ${need[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
  echo "install-deps: installed ${need[*]}"
else
  echo "install-deps: nothing to install"
fi
# A stock kubectl is optional: the tests also use /usr/bin/kubectl when it is there.
want=$(awk '/^go /{print $2}' "$(dirname "$0")/../go.mod")
PATH=/usr/local/go/bin:$PATH
have=$(go env GOVERSION 2>/dev/null | sed 's/^go//')
if [ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -1)" != "$want" ]; then
  # Older Go fetches the toolchain go.mod asks for through the module proxy.
  echo "install-deps: go $have is older than $want; GOTOOLCHAIN=go$want will fetch it" >&2
  GOTOOLCHAIN="go$want" go version
fi
echo "install-deps: ok ($(GOTOOLCHAIN=auto go version))"
