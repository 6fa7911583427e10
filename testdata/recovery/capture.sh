#!/usr/bin/env bash
# Regenerates testdata/recovery/self-hosted/objects.yaml from the real test bed: the fixture's
# kube-system objects exactly as kube-apiserver v1.20.2 serves them (defaults and all).
# Then: LIFEBOAT_UPDATE_GOLDEN=1 build/src/recovery/recovery_render_test, and review the diff.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=$(mktemp -d /tmp/lifeboat-capture-XXXXXX)
trap 'testbed/testbed.sh down "$dir" >/dev/null 2>&1; rm -rf "$dir"' EXIT
testbed/testbed.sh up "$dir" >/dev/null 2>&1
testbed/testbed.sh load-fixture "$dir" >/dev/null 2>&1
. "$dir/env"
{
  echo "# kube-system of the test bed's fixture as served by kube-apiserver v1.20.2 (capture.sh)"
  "$KUBECTL" --kubeconfig "$KUBECONFIG" -n kube-system get daemonsets,deployments,secrets,configmaps -o yaml \
    | grep -v -E '^\s+(resourceVersion|uid|creationTimestamp|selfLink|generation):' 
} > testdata/recovery/self-hosted/objects.yaml
echo "captured $(grep -c '^- apiVersion' testdata/recovery/self-hosted/objects.yaml) objects"
