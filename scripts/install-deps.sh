#!/usr/bin/env bash
# Installs the Debian 12 packages Lifeboat's build, tests and test bed need. Idempotent: it does
# nothing when every package is already present, so `make` targets can call it every time.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config make
  libgrpc++-dev protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libnghttp2-dev zlib1g-dev
  libcurl4-openssl-dev libssl-dev libsodium-dev libwolfssl-dev
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libfmt-dev libabsl-dev
  libcpp-httplib-dev libgtest-dev libgmock-dev libbenchmark-dev
  etcd-server etcd-client openssl jq rsync time
  python3-jsonschema
)
# The test bed builds Kubernetes v1.20.2 from Debian's source package with Debian's Go.
# Real nodes: the kubelet over containerd + runc, loopback CNI, images from busybox-static.
TESTBED_PACKAGES=(golang-go dpkg-dev patch ca-certificates curl iproute2 procps util-linux
  containerd runc containernetworking-plugins iptables busybox-static file)

want=("${PACKAGES[@]}")
if [[ "${1:-}" == "--testbed" ]]; then want+=("${TESTBED_PACKAGES[@]}"); fi

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
