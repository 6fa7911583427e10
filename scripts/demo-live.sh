#!/usr/bin/env bash
# `make demo`: a real Kubernetes v1.20.2 control plane (etcd + kube-apiserver) with a self-hosted
# control plane loaded, recovered by `lifeboat recover`, then torn down.
set -euo pipefail
cd "$(dirname "$0")/.."
LIFEBOAT=build/lifeboat

echo "==> Lifeboat demo: recover a self-hosted control plane from a live API server"
echo "==> making sure the Kubernetes test bed is built (the first run builds it: ~10 min)"
./testbed/build.sh
dir=$(mktemp -d /tmp/lifeboat-demo-XXXXXX)
cleanup() {
  echo "==> tearing the test bed down"
  testbed/testbed.sh down "$dir" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

echo "==> starting etcd and kube-apiserver on free loopback ports"
testbed/testbed.sh up "$dir"
echo "==> loading a self-hosted control plane (DaemonSet kube-apiserver, Deployments"
echo "    kube-controller-manager and kube-scheduler, their Secrets and ConfigMaps)"
testbed/testbed.sh load-fixture "$dir"
# shellcheck disable=SC1091
. "$dir/env"

echo
echo "\$ lifeboat recover --recovery-dir $dir/recovered --kubeconfig $KUBECONFIG"
"$LIFEBOAT" recover --recovery-dir "$dir/recovered" --kubeconfig "$KUBECONFIG"

echo
echo "==> what recover wrote (mode, path):"
(cd "$dir/recovered" && find . -mindepth 1 -printf '%m %P\n' | sort -k2)
echo
echo "==> bootstrap-manifests/bootstrap-kube-scheduler.yaml:"
cat "$dir/recovered/bootstrap-manifests/bootstrap-kube-scheduler.yaml"
echo
echo "==> demo done: these manifests would now go to 'lifeboat start --asset-dir=...'"
