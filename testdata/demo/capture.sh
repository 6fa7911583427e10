#!/usr/bin/env bash
# Regenerates testdata/demo/: an etcd snapshot of the test bed with the self-hosted control-plane
# fixture loaded, which `make demo` recovers without building or running any Kubernetes.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=$(mktemp -d /tmp/lifeboat-demo-capture-XXXXXX)
trap 'testbed/testbed.sh down "$dir" >/dev/null 2>&1; rm -rf "$dir"' EXIT
testbed/testbed.sh up "$dir" >/dev/null 2>&1
testbed/testbed.sh load-fixture "$dir" >/dev/null 2>&1
. "$dir/env"
ctl() { ETCDCTL_API=3 etcdctl --endpoints "$ETCD_ENDPOINTS" --cacert "$ETCD_CA" --cert "$ETCD_CERT" --key "$ETCD_KEY" "$@"; }
rev=$(ctl endpoint status -w json | sed -E 's/.*"revision":([0-9]+).*/\1/')
ctl compaction "$rev" >/dev/null
ctl defrag >/dev/null
ctl snapshot save testdata/demo/etcd-snapshot.db >/dev/null 2>&1
echo "wrote testdata/demo/etcd-snapshot.db ($(stat -c %s testdata/demo/etcd-snapshot.db) bytes, revision $rev)"
