#!/usr/bin/env bash
# `make demo-real`: the seed's disaster on a real node, narrated. One node (the kubelet v1.20.2 over
# containerd + runc) runs a self-hosted control plane brought up by `lifeboat start`, and Lifeboat's
# checkpointer from deploy/. The node loses power while its API server is the only one; Lifeboat's
# checkpoint brings the API server back on power-on. Every step is timed. About 5-10 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LIFEBOAT=$ROOT/build/lifeboat
CHECKPOINTER=$ROOT/build/lifeboat-checkpointer
[[ -x $LIFEBOAT && -x $CHECKPOINTER ]] || { echo "build first: make build" >&2; exit 1; }

T0=$(date +%s.%N)
ts() { awk -v a="$(date +%s.%N)" -v b="$T0" 'BEGIN{printf "%7.1fs", a - b}'; }
say() { echo "[$(ts)] $*"; }
step() { echo; echo "[$(ts)] ==== $*"; }
since() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN{printf "%.1f s", a - b}'; }
now() { date +%s.%N; }
# bench NAME START: appends NAME=<seconds since START> to $BENCH_OUT (bench/realnode_bench.sh).
bench() { awk -v n="$1" -v a="$(date +%s.%N)" -v b="$2" 'BEGIN{printf "BENCH %s=%.2f\n", n, a - b}' >>"${BENCH_OUT:-/dev/null}"; }
wait_until() { # wait_until TIMEOUT CMD...: poll CMD every 0.2 s
  local end=$(($(date +%s) + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    (($(date +%s) < end)) || return 1
    sleep 0.2
  done
}

dir=$(mktemp -d /tmp/lifeboat-demo-real-XXXXXX)
cleanup() {
  step "tearing down: every process, mount and cgroup of the node, then etcd"
  testbed/testbed.sh down "$dir" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

step "building (or finding cached) the test bed and the images"
testbed/build.sh >/dev/null
image=$(testbed/images.sh checkpointer "$CHECKPOINTER")
say "checkpointer image: $image (lifeboat.test/lifeboat:dev, from build/lifeboat-checkpointer)"

step "starting etcd and one real node (containerd + kubelet, no API server yet)"
testbed/testbed.sh up "$dir" --real-nodes --nodes 1 --no-apiserver --image "$image" 2>&1 | grep -E 'ready|imported|up in' | sed 's/^/    /'
# shellcheck disable=SC1091
set -a; . "$dir/env"; set +a
kc() { "$KUBECTL" --kubeconfig "$KUBECONFIG" "$@"; }
api_ok() { [[ $(kc get --raw /readyz --request-timeout=2s 2>/dev/null) == ok ]]; }
node_procs() { # node_procs: the node's container processes (comm), counted
  find /sys/fs/cgroup/pids"$NODE_1_CGROUP_ROOT" -name cgroup.procs -exec cat {} + 2>/dev/null |
    while read -r p; do cat "/proc/$p/comm" 2>/dev/null; done | sort | uniq -c | sed 's/^ */      /'
}
has_proc() { find /sys/fs/cgroup/pids"$NODE_1_CGROUP_ROOT" -name cgroup.procs -exec cat {} + 2>/dev/null |
  while read -r p; do cat "/proc/$p/comm" 2>/dev/null; done | grep -qx "$1"; }

step "bring-up as bootkube users do: lifeboat start on rendered assets"
testbed/selfhosted.sh render "$dir" "$dir/assets" >/dev/null
t=$(now)
"$LIFEBOAT" start --asset-dir "$dir/assets" --pod-manifest-path "$NODE_1_MANIFESTS" \
  --bootstrap-secrets-dir "$NODE_1_ETC/bootstrap-secrets" --timeout 10m \
  --required-pods kube-system/kube-apiserver,kube-system/kube-scheduler,kube-system/kube-controller-manager \
  >"$dir/start.log" 2>&1 &
start_pid=$!
wait_until 300 api_ok || { cat "$dir/start.log"; exit 1; }
say "bootstrap kube-apiserver answering after $(since "$t") (a container of the node)"
wait_until 300 kc get node node-1
say "node-1 registered (its kubelet labels it node.kubernetes.io/control-plane, which the control plane selects)"
wait "$start_pid" || { cat "$dir/start.log"; exit 1; }
say "lifeboat start finished after $(since "$t"):"
grep -E 'Created|running|removed|Tearing' "$dir/start.log" | sed 's/^/      /'

# The bootstrap API server shares the port (--permit-port-sharing) until its container is gone:
# connections the kernel hands to it while it shuts down time out.
one_apiserver() { [[ $(node_procs | awk '$2 == "kube-apiserver" {print $1}') == 1 ]] && api_ok; }
t=$(now)
wait_until 120 one_apiserver
say "the bootstrap kube-apiserver's container is gone after $(since "$t"); the self-hosted one answers"

step "deploying the checkpointer from deploy/ (image built from this tree)"
testbed/selfhosted.sh checkpointer "$dir" lifeboat.test/lifeboat:dev >"$dir/checkpointer.yaml"
t=$(now)
wait_until 60 kc apply -f "$dir/checkpointer.yaml"
say "applied deploy/pod-checkpointer-rbac.yaml and deploy/pod-checkpointer.yaml (adjusted: testbed/selfhosted.sh)"
ckpt_ready() { compgen -G "$NODE_1_ETC/inactive-manifests/kube-system-kube-apiserver-*.json" >/dev/null; }
wait_until 300 ckpt_ready || { kc -n kube-system get pods -o wide; exit 1; }
say "kube-apiserver checkpointed after $(since "$t"): $(cd "$NODE_1_ETC/inactive-manifests" && ls)"
kc -n kube-system get pods -o wide | sed 's/^/      /'
say "processes running in node-1's containers:"
node_procs

step "the checkpointer as a DaemonSet pod: resident memory and CPU per tick over ${SAMPLE:=30} s"
# The DaemonSet pod's checkpointer: of the two (its own checkpoint waits on the lock file), the
# one with the larger resident set.
ckpt_pid() { find /sys/fs/cgroup/pids"$NODE_1_CGROUP_ROOT" -name cgroup.procs -exec cat {} + 2>/dev/null |
  while read -r p; do
    if [[ $(cat "/proc/$p/comm" 2>/dev/null) == checkpoint ]]; then
      echo "$(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null) $p"
    fi
  done | sort -rn | awk 'NR == 1 {print $2}'; }
metrics_port=$(sed -n 's/.*--metrics-address=127.0.0.1:\([0-9]*\).*/\1/p' "$dir/checkpointer.yaml")
ticks() { curl -s --max-time 3 "http://127.0.0.1:$metrics_port/metrics" | awk '$1 == "lifeboat_checkpointer_ticks_total" {print $2}'; }
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{s += $1} END {printf "%d", s}'; } # CPU time of all threads
p=$(ckpt_pid)
if [[ -n $p ]]; then
  c0=$(cpu_ns "$p"); k0=$(ticks); sleep "$SAMPLE"; c1=$(cpu_ns "$p"); k1=$(ticks)
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status")
  hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$p/status")
  say "checkpointer pid $p: VmRSS $rss KiB (peak $hwm KiB); $((k1 - k0)) ticks, CPU $(awk -v c=$((c1 - c0)) -v k=$((k1 - k0)) 'BEGIN{if (k > 0) printf "%.2f ms", c / 1e6 / k; else print "n/a"}') per tick"
  echo "BENCH checkpointer_rss_kib=$rss checkpointer_hwm_kib=$hwm ticks=$((k1 - k0)) cpu_ns=$((c1 - c0)) seconds=$SAMPLE" >>"${BENCH_OUT:-/dev/null}"
fi

step "DISASTER: node-1 loses power; its API server was the only one"
t=$(now)
testbed/testbed.sh stop "$dir" node-1 2>/dev/null
say "node-1 is off after $(since "$t"): kubelet, containerd, every shim and container SIGKILLed,"
say "its mounts gone, containerd's state wiped. Processes left in its containers: $(node_procs | wc -l)"
api_ok && say "the API answers?!" || say "the API server does not answer: no API server anywhere"

step "power on: containerd, then the kubelet"
t_on=$(now)
testbed/testbed.sh start "$dir" node-1 --no-wait 2>/dev/null
bench kubelet_started "$t_on"
say "containerd and kubelet started after $(since "$t_on")"
wait_until 300 has_proc checkpoint
bench checkpointer_running "$t_on"
say "the checkpointer runs again from its own checkpoint (a static pod) after $(since "$t_on")"
active() { compgen -G "$NODE_1_MANIFESTS/kube-system-kube-apiserver-*.json" >/dev/null; }
wait_until 300 active
bench checkpoint_active "$t_on"
say "it activated the kube-apiserver checkpoint after $(since "$t_on"): $(cd "$NODE_1_MANIFESTS" && ls kube-system-kube-apiserver-*.json)"
wait_until 300 has_proc kube-apiserver
bench apiserver_running "$t_on"
say "the kubelet runs kube-apiserver from the checkpoint after $(since "$t_on")"
wait_until 300 api_ok
bench api_answering "$t_on"
say "THE API ANSWERS after $(since "$t_on") from power-on"
inactive_again() { ! active && [[ $(kc -n kube-system get pods -l k8s-app=kube-apiserver --field-selector=status.phase=Running -o name | grep -vc -- '-node-1$') -ge 1 ]]; }
wait_until 300 inactive_again
bench deactivated "$t_on"
say "the DaemonSet's kube-apiserver pod runs again and the checkpoint is deactivated after $(since "$t_on")"
kc -n kube-system get pods -o wide | sed 's/^/      /'
echo
say "demo done"
