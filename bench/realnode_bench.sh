#!/usr/bin/env bash
# Activation of the kube-apiserver checkpoint after a node reboot with no API server, on a real
# node (kubelet + containerd + runc: scripts/demo-real.sh, which also samples the checkpointer's
# resident memory and CPU per tick as a DaemonSet pod) and on a hollow node (the kubelet over the
# fake runtime, the checkpointer as a process, as src/checkpoint/checkpoint_e2e_test.cc runs it).
#   bench/realnode_bench.sh [RUNS]      (from the repository root, after `make build testbed`)
# Prints one line per run and measure; times are seconds from the node's power-on.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${1:-1}
BUILD=${BUILD:-build}
out=$(mktemp /tmp/lifeboat-realnode-bench-XXXXXX)
trap 'rm -f "$out" "$out.demo"' EXIT

hollow() {
  local tb w pod api t_on n
  tb=$(mktemp -d /tmp/lifeboat-hollow-bench-XXXXXX)
  export TESTBED_OWNER_PID=$$
  bash testbed/testbed.sh up "$tb" --controllers --nodes 1 >/dev/null 2>&1
  bash testbed/testbed.sh load-fixture "$tb" --wait-running >/dev/null 2>&1
  (
    set -a; . "$tb/env"; set +a
    kc() { "$KUBECTL" --kubeconfig "$KUBECONFIG" "$@"; }
    kc apply -f deploy/pod-checkpointer-rbac.yaml >/dev/null
    w=$tb/ckpt
    mkdir -p "$w"
    pod=$(kc -n kube-system get pods -l k8s-app=pod-checkpointer -o jsonpath='{.items[0].metadata.name}')
    api=$(kc -n kube-system get pods -l k8s-app=kube-apiserver -o jsonpath='{.items[0].metadata.name}')
    env NODE_NAME=node-1 POD_NAME="$pod" POD_NAMESPACE=kube-system HOST_IP=127.0.0.1 \
      "$BUILD/checkpoint" --lock-file="$w/lock" --kubeconfig="$KUBECONFIG" \
      --container-runtime-endpoint="unix://$NODE_1_CRI_SOCKET" --inactive-manifest-dir="$w/inactive" \
      --pod-manifest-path="$NODE_1_MANIFESTS" --checkpoint-secrets-dir="$w/secrets" \
      --checkpoint-configmaps-dir="$w/configmaps" --kubelet-port="$NODE_1_PORT" \
      --kubelet-read-only-port="$NODE_1_READONLY_PORT" --metrics-address=127.0.0.1:0 >"$w/log" 2>&1 &
    ckpt=$!
    for ((n = 0; n < 120; n++)); do [[ -f $w/inactive/kube-system-$api.json ]] && break; sleep 0.5; done
    bash testbed/testbed.sh stop "$tb" apiserver --kill >/dev/null 2>&1
    bash testbed/testbed.sh stop "$tb" node-1 --kill >/dev/null 2>&1
    # Power on: the node's own command line (testbed.sh start would wait for the API server).
    cmd=$(grep 'starting: ' "$tb/logs/node-1.log" | tail -n1 | sed 's/.*starting: //')
    t_on=$(date +%s.%N)
    # shellcheck disable=SC2086
    (cd "$tb" && exec setsid env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$HOME" $cmd >>"$tb/logs/node-1.log" 2>&1) &
    echo "$!" >"$tb/pids/node-1.pid"
    running() { curl -s --max-time 2 "http://127.0.0.1:$NODE_1_READONLY_PORT/pods" |
      jq -e --arg n "$api-node-1" '.items[] | select(.metadata.name == $n) | .status.containerStatuses[]? | select(.state.running)' >/dev/null 2>&1; }
    for ((n = 0; n < 1200; n++)); do [[ -f $NODE_1_MANIFESTS/kube-system-$api.json ]] && break; sleep 0.1; done
    awk -v a="$(date +%s.%N)" -v b="$t_on" 'BEGIN{printf "BENCH hollow_checkpoint_active=%.2f\n", a - b}' >>"$out"
    for ((n = 0; n < 1200; n++)); do running && break; sleep 0.1; done
    awk -v a="$(date +%s.%N)" -v b="$t_on" 'BEGIN{printf "BENCH hollow_apiserver_running=%.2f\n", a - b}' >>"$out"
    kill "$ckpt" 2>/dev/null || true
  )
  bash testbed/testbed.sh down "$tb" >/dev/null 2>&1 || true
  rm -rf "$tb"
}

for ((r = 1; r <= RUNS; r++)); do
  : >"$out"
  BENCH_OUT=$out SAMPLE=${SAMPLE:-60} scripts/demo-real.sh >"$out.demo" 2>&1 || { cat "$out.demo"; exit 1; }
  cat "$out.demo" >&2 # the narrated transcript
  hollow
  echo "run $r: $(sed -n 's/^BENCH //p' "$out" | tr '\n' ' ')"
  rm -f "$out.demo"
done
