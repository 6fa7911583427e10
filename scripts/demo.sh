#!/usr/bin/env bash
# `make demo`: the worst case — every API server and every etcd member is gone, only an etcd
# backup is left. `lifeboat recover --etcd-snapshot` reads the control plane straight out of the
# backup file (testdata/demo/etcd-snapshot.db, taken from the real Kubernetes v1.20.2 test bed
# with a self-hosted control plane loaded) and renders the bootstrap control plane. No etcd and
# no Kubernetes run. `make demo-live` shows the same against a running API server.
set -euo pipefail
cd "$(dirname "$0")/.."
LIFEBOAT=build/lifeboat
SNAPSHOT=testdata/demo/etcd-snapshot.db
out=$(mktemp -d /tmp/lifeboat-demo-XXXXXX)
trap 'rm -rf "$out"' EXIT

echo "==> Lifeboat demo: recover a self-hosted control plane from an etcd backup file"
echo "    backup: $SNAPSHOT ($(stat -c %s "$SNAPSHOT") bytes, written by 'etcdctl snapshot save')"
echo
echo "\$ lifeboat recover --etcd-snapshot $SNAPSHOT --kubeconfig testdata/demo/kubeconfig --recovery-dir $out/recovered"
start=$(date +%s%N)
"$LIFEBOAT" recover --etcd-snapshot "$SNAPSHOT" --kubeconfig testdata/demo/kubeconfig \
  --recovery-dir "$out/recovered"
echo "    (took $(( ($(date +%s%N) - start) / 1000000 )) ms, SHA-256 trailer of the backup verified)"

echo
echo "==> what recover wrote (mode, path):"
(cd "$out/recovered" && find . -mindepth 1 -printf '%m %P\n' | sort -k2)
echo
echo "==> bootstrap-manifests/bootstrap-kube-apiserver.yaml (Secret and ConfigMap volumes are now"
echo "    hostPath volumes, the env var from a Secret is a literal, no service account):"
cat "$out/recovered/bootstrap-manifests/bootstrap-kube-apiserver.yaml"
echo
echo "==> a corrupted backup is refused with a clear message, never half-read:"
cp "$SNAPSHOT" "$out/corrupt.db"
printf 'XXXXXXXX' | dd of="$out/corrupt.db" bs=1 seek=5000 conv=notrunc status=none
echo "\$ lifeboat recover --etcd-snapshot corrupt.db ..."
"$LIFEBOAT" recover --etcd-snapshot "$out/corrupt.db" --kubeconfig testdata/demo/kubeconfig \
  --recovery-dir "$out/never" 2>&1 | sed 's/^/    /' || true
echo
echo "==> demo done. Next an operator would restore etcd from the backup and run"
echo "    'sudo lifeboat start --asset-dir=<recovery-dir>' on a control-plane node (see README)."
