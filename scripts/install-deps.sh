#!/usr/bin/env bash
# Installs the Debian 12 packages Lifeboat needs, by what is done with it. Idempotent: it does
# nothing when every package is already present, so `make` targets call it every time.
#
#   scripts/install-deps.sh             to build (`make build`, `make demo`): compiler and libraries
#   scripts/install-deps.sh --test      and to build and run the unit and integration tests
#   scripts/install-deps.sh --testbed   and to build and run the Kubernetes test bed (`make test`,
#                                       `make demo-live`, `make bench`)
#   scripts/install-deps.sh --stress    and stress-ng, for `make test-stress`
set -euo pipefail

# The C++ build: compiler, CMake and the libraries the binaries link.
BUILD_PACKAGES=(
  build-essential cmake pkg-config make
  libgrpc++-dev protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libnghttp2-dev zlib1g-dev
  libcurl4-openssl-dev libssl-dev libsodium-dev libwolfssl-dev
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libfmt-dev libabsl-dev
)
# The tests: GoogleTest, an HTTP server library for the fakes, the real etcd, and the tools the
# tests and the test bed's scripts call.
TEST_PACKAGES=(
  libgtest-dev libgmock-dev libcpp-httplib-dev
  etcd-server etcd-client openssl jq rsync time
  python3-jsonschema
)
# The test bed builds Kubernetes v1.20.2 from Debian's source package with Debian's Go.
# Real nodes: the kubelet over containerd + runc, loopback CNI, images from busybox-static.
TESTBED_PACKAGES=(golang-go dpkg-dev patch ca-certificates curl iproute2 procps util-linux
  containerd runc containernetworking-plugins iptables busybox-static file)

want=("${BUILD_PACKAGES[@]}")
case "${1:-}" in
  "") ;;
  --test) want+=("${TEST_PACKAGES[@]}") ;;
  --testbed) want+=("${TEST_PACKAGES[@]}" "${TESTBED_PACKAGES[@]}") ;;
  --stress) want+=("${TEST_PACKAGES[@]}" "${TESTBED_PACKAGES[@]}" stress-ng) ;;
  *) echo "usage: $0 [--test|--testbed|--stress]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then exit 0; fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "==> installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
