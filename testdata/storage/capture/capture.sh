#!/usr/bin/env bash
# Captures golden pairs for src/storage: for every Pod, Secret, ConfigMap, DaemonSet and
# Deployment in a real v1.20.2 test bed, the value kube-apiserver stored in etcd and the JSON
# the API server serves for it (GET, same resourceVersion), into testdata/storage/golden/.
#
#   testdata/storage/capture/capture.sh [TESTBED_DIR]
#
# Encryption at rest is on (encryption-phase*.yaml, test keys): secrets are written with aescbc,
# then aesgcm, then secretbox after two key rotations; configmaps with aesgcm, then plain after
# identity moves first. For a while the API server stores JSON (--storage-media-type) so that
# JSON values are covered too. Needs testbed/build.sh's binaries; takes about 3 minutes.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
TB=${1:-/tmp/lifeboat-storage-capture}
# A private copy: bash reads scripts as it runs them, and testbed/ may be edited meanwhile.
COPY=$(mktemp -d)
cp -r "$REPO/testbed" "$COPY/"
TESTBED=$COPY/testbed/testbed.sh
say() { echo "==> capture: $*" >&2; }

"$TESTBED" down "$TB" >/dev/null 2>&1 || true
rm -rf "$TB"
trap '"$TESTBED" down "$TB" >/dev/null 2>&1 || true; rm -rf "$COPY"' EXIT
up() { "$TESTBED" up "$TB" --controllers --nodes 1 --encryption-config "$HERE/encryption-phase1.yaml"; }
up || { say "test bed did not come up; one more try"; rm -rf "$TB"; up; }
# shellcheck disable=SC1091
source "$TB/env"
export KUBECONFIG
k() { "$KUBECTL" "$@"; }
restart_apiserver() { "$TESTBED" stop "$TB" apiserver; "$TESTBED" start "$TB" apiserver; }

say "phase 1: fixture and kitchen sink (secrets aescbc, configmaps aesgcm)"
"$TESTBED" load-fixture "$TB" --wait-running
k apply -f "$HERE/kitchen-sink.yaml"
sleep 5
k -n default delete pod finalizer-hold --wait=false

say "phase 2: secrets written with aesgcm"
cp "$HERE/encryption-phase2.yaml" "$TB/encryption-config.yaml"
restart_apiserver
k -n default create secret generic enc-aesgcm --from-literal=key=value-written-with-aesgcm

say "phase 3: secrets written with secretbox, configmaps plain; JSON storage"
cp "$HERE/encryption-phase3.yaml" "$TB/encryption-config.yaml"
sed -i 's|^STORAGE_MEDIA_TYPE=.*|STORAGE_MEDIA_TYPE=application/json|' "$TB/env"
restart_apiserver
k -n default create secret generic json-stored-secret --from-literal=key=json-and-secretbox
k -n default create configmap json-stored-config --from-literal=key=json-plain

say "back to protobuf storage"
sed -i 's|^STORAGE_MEDIA_TYPE=.*|STORAGE_MEDIA_TYPE=|' "$TB/env"
restart_apiserver
k -n default create secret generic enc-secretbox --from-literal=key=value-written-with-secretbox
k -n default create configmap plain-after-rotation --from-literal=key=plain

say "letting controllers and the node settle"
sleep 25

say "capturing"
rm -rf "$REPO/testdata/storage/golden"
python3 "$HERE/capture_pairs.py" "$TB/env" "$REPO/testdata/storage/golden"
cp "$HERE/encryption-phase3.yaml" "$REPO/testdata/storage/golden/encryption-config.yaml"
say "done"
