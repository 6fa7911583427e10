#!/usr/bin/env bash
# The checkpointer on the real test bed with N annotated pods on the node (default 100):
# resident memory, CPU per tick, API server requests and etcd reads per minute in steady state.
#   src/checkpoint/checkpoint_testbed_bench.sh BUILD_DIR [PODS] [SECONDS]
# PERF=file records a CPU profile of the steady state with perf(1) (PERF_CALLGRAPH=--call-graph=dwarf
# for stacks through code without frame pointers); KEEP=1 keeps the test bed;
# CKPT_FLAGS adds flags to the checkpointer's (e.g. CKPT_FLAGS=--kubelet-refresh-period=0);
# TESTBED_FLAGS to `testbed.sh up` (e.g. TESTBED_FLAGS="--apiserver-arg --tls-min-version=VersionTLS13").
set -euo pipefail
BUILD=${1:?build dir}
PODS=${2:-100}
SECS=${3:-60}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
TB=$(mktemp -d /tmp/lifeboat-ckpt-bench-XXXXXX)
export TESTBED_OWNER_PID=$$
cleanup() {
  [[ -n ${CKPT_PID:-} ]] && kill "$CKPT_PID" 2>/dev/null || true
  if [[ -n ${KEEP:-} ]]; then echo "test bed kept in $TB"; return; fi
  bash "$SRC/testbed/testbed.sh" down "$TB" >/dev/null 2>&1 || true
  rm -rf "$TB"
}
trap cleanup EXIT
# shellcheck disable=SC2086 # TESTBED_FLAGS is a list of words
bash "$SRC/testbed/testbed.sh" up "$TB" --controllers --nodes 1 ${TESTBED_FLAGS:-} >/dev/null 2>&1
bash "$SRC/testbed/testbed.sh" load-fixture "$TB" --wait-running >/dev/null 2>&1
. "$TB/env"
kc() { "$KUBECTL" --kubeconfig "$KUBECONFIG" "$@"; }
kc apply -f "$SRC/deploy/pod-checkpointer-rbac.yaml" >/dev/null
kc -n kube-system create secret generic bench --from-literal=key=value >/dev/null
((PODS > 0)) && for ((i = 0; i < PODS; i++)); do
  cat <<YAML
---
apiVersion: v1
kind: Pod
metadata:
  name: bench-$i
  namespace: kube-system
  annotations: {checkpointer.alpha.coreos.com/checkpoint: "true"}
spec:
  nodeName: node-1
  containers:
  - name: c
    image: k8s.gcr.io/pause:3.2
    volumeMounts: [{name: s, mountPath: /s}]
  volumes:
  - {name: s, secret: {secretName: bench}}
YAML
done | kc apply -f - >/dev/null
for ((t = 0; t < 120; t++)); do
  n=$(kc -n kube-system get pods --field-selector status.phase=Running -o name | grep -c bench- || true)
  ((n >= PODS)) && break
  sleep 1
done
echo "pods running: $n"
W=$TB/ckpt
mkdir -p "$W"
POD=$(kc -n kube-system get pods -l k8s-app=pod-checkpointer -o jsonpath='{.items[0].metadata.name}')
env NODE_NAME=node-1 POD_NAME="$POD" POD_NAMESPACE=kube-system \
  "$BUILD/checkpoint" --lock-file="$W/lock" --kubeconfig="$KUBECONFIG" \
  --container-runtime-endpoint="unix://$NODE_1_CRI_SOCKET" --inactive-manifest-dir="$W/inactive" \
  --pod-manifest-path="$NODE_1_MANIFESTS" --checkpoint-secrets-dir="$W/secrets" \
  --checkpoint-configmaps-dir="$W/configmaps" --kubelet-port="$NODE_1_PORT" \
  --kubelet-certificate-authority="$NODE_1_ROOT/pki/kubelet.crt" --metrics-address=127.0.0.1:0 ${CKPT_FLAGS:-} >"$W/log" 2>&1 &
CKPT_PID=$!
for ((t = 0; t < 60; t++)); do
  c=$( (find "$W/inactive" -name "*.json" 2>/dev/null || true) | wc -l)
  ((c >= PODS + 2)) && break
  sleep 1
done
echo "checkpoints written: $c"
sleep 5  # settle
# CPU time of all the process's threads in ns (schedstat is exact; utime/stime are sampled).
cpu() { cat /proc/"$CKPT_PID"/task/*/schedstat | awk '{s += $1} END {printf "%d", s}'; }
metric() { curl -s "http://127.0.0.1:$(grep -o 'port [0-9]*' "$W/log" | head -1 | cut -d' ' -f2)/metrics" |
  awk -v m="$1" '$1 == m {print $2}'; }
ticks() { metric lifeboat_checkpointer_ticks_total; }
kubelet_reads() { metric lifeboat_checkpointer_kubelet_reads_total; }
# Requests the API server served (a WATCH is counted when it ends), all clients: the baseline run
# without the checkpointer below tells its share.
api_reqs() { curl -s --cacert "$CA_CERT" --cert "$ADMIN_CERT" --key "$ADMIN_KEY" "$APISERVER_URL/metrics" |
  awk -v verbs="$1" '/^apiserver_request_total\{/ && /resource="(pods|secrets|configmaps|serviceaccounts)"/ && $0 ~ "verb=\"(" verbs ")\"" {s += $2} END {printf "%d", s}'; }
etcd_ranges() { curl -s --cacert "$ETCD_CA" --cert "$ETCD_CERT" --key "$ETCD_KEY" "$ETCD_ENDPOINTS/metrics" |
  awk '/^etcd_debugging_mvcc_range_total/ {print $2}'; }
c0=$(cpu); t0=$(ticks); k0=$(kubelet_reads); a0=$(api_reqs 'LIST|GET'); w0=$(api_reqs 'WATCH|POST|PUT|PATCH'); e0=$(etcd_ranges)
if [[ -n ${PERF:-} ]]; then
  perf record ${PERF_CALLGRAPH:--g} -o "$PERF" -p "$CKPT_PID" -- sleep "$SECS" >/dev/null 2>&1
else
  sleep "$SECS"
fi
c1=$(cpu); t1=$(ticks); k1=$(kubelet_reads); a1=$(api_reqs 'LIST|GET'); w1=$(api_reqs 'WATCH|POST|PUT|PATCH'); e1=$(etcd_ranges)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$CKPT_PID/status")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$CKPT_PID/status")
echo "steady state over ${SECS}s with $PODS annotated pods:"
echo "  resident memory: ${rss} KiB (peak ${hwm} KiB; $(awk '/RssAnon|RssFile/ {printf "%s %s KiB ", $1, $2}' "/proc/$CKPT_PID/status"))"
awk -v c=$((c1 - c0)) -v t=$((t1 - t0)) 'BEGIN {printf "  CPU per tick: %.2f ms over %d ticks\n", c / 1e6 / t, t}'
kubelet_bytes=$(curl -sk --cert "$ADMIN_CERT" --key "$ADMIN_KEY" "https://127.0.0.1:$NODE_1_PORT/pods" | wc -c)
api_bytes=$(curl -s --cacert "$CA_CERT" --cert "$ADMIN_CERT" --key "$ADMIN_KEY" \
  -H 'Accept: application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1' \
  "$APISERVER_URL/api/v1/namespaces/kube-system/pods?fieldSelector=spec.nodeName%3Dnode-1&resourceVersion=0" | wc -c)
echo "  answers: the kubelet's /pods: $((kubelet_bytes / 1024)) KiB, the API server's pod list (metadata): $((api_bytes / 1024)) KiB"
echo "  kubelet /pods reads by the checkpointer: $((k1 - k0)) in ${SECS}s"
echo "  API server GET/LIST of pods/secrets/configmaps/serviceaccounts (all clients): $((a1 - a0)) in ${SECS}s; WATCH/POST/PUT/PATCH: $((w1 - w0))"
echo "  etcd range requests (all clients): $((${e1%.*} - ${e0%.*})) in ${SECS}s"
kill "$CKPT_PID"; wait "$CKPT_PID" 2>/dev/null || true; CKPT_PID=
a0=$(api_reqs 'LIST|GET'); w0=$(api_reqs 'WATCH|POST|PUT|PATCH'); e0=$(etcd_ranges)
sleep "$SECS"
a1=$(api_reqs 'LIST|GET'); w1=$(api_reqs 'WATCH|POST|PUT|PATCH'); e1=$(etcd_ranges)
echo "  baseline without the checkpointer: API GET/LIST $((a1 - a0)), WATCH/POST/PUT/PATCH $((w1 - w0)), etcd ranges $((${e1%.*} - ${e0%.*})) in ${SECS}s"
