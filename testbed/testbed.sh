#!/usr/bin/env bash
# Lifeboat's test bed: a real Kubernetes v1.20.2 control plane (etcd with TLS, kube-apiserver,
# optionally kube-controller-manager and kube-scheduler) and hollow nodes (a real kubelet over a
# fake CRI runtime) or real nodes (the kubelet over containerd + runc, see realnode.sh), all on
# loopback ports picked at random, all state under one directory.
#
#   testbed.sh up DIR [--controllers] [--nodes N] [--real-nodes] [--image TAR]... [--no-apiserver]
#                     [--encryption-config FILE] [--storage-media-type T]
#                     [--apiserver-arg FLAG]...   # e.g. --apiserver-arg --tls-min-version=VersionTLS13
#   testbed.sh down DIR
#   testbed.sh stop DIR COMPONENT [--kill | --grace S]  # etcd|apiserver|controller-manager|scheduler|node-<i>
#   testbed.sh start DIR COMPONENT [--no-wait]
#   testbed.sh reboot DIR node-<i> [--no-wait]          # a real node: power off, power on
#   testbed.sh load-fixture DIR [--wait-running]
#   testbed.sh status DIR
#
# DIR/env is shell-sourceable (KEY=VALUE); see testbed/README.md for its keys.
# Every component runs in a process group of its own (pid = pgid, in DIR/pids/<component>.pid,
# log in DIR/logs/<component>.log). A watchdog kills them all when the owner process dies: the
# owner is $TESTBED_OWNER_PID if set (`none` disables the watchdog), else the nearest ancestor that
# is not a `sh -c` wrapper or a subshell.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROG=testbed
# Settings from the caller's environment (DIR/env, once sourced, reuses some of these names).
OPT_OWNER=${TESTBED_OWNER_PID:-}
OPT_BIN=${TESTBED_BIN:-}

say() { echo "==> $PROG: $*" >&2; }
fail() { echo "==> $PROG: ERROR: $*" >&2; exit 1; }
usage() { sed -n '7,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# shellcheck source=realnode.sh
source "$HERE/realnode.sh"

# ---------------------------------------------------------------------------------------------------
# helpers

abspath() { mkdir -p "$1" && (cd "$1" && pwd -P); }

binaries() {
  if [[ -n $OPT_BIN ]]; then echo "$OPT_BIN"; return; fi
  "$HERE/build.sh"
}

# Ports in use: every local TCP port of any socket (listening or not).
used_ports() { ss -Htan 2>/dev/null | awk '{print $4}' | sed -E 's/.*[:.]([0-9]+)$/\1/' | sort -un; }
# The kernel hands out local ports of outgoing connections from ip_local_port_range (usually
# 32768-60999); a port picked there can be taken by a connection before our server binds it.
read -r EPH_LO EPH_HI </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || { EPH_LO=32768; EPH_HI=60999; }
declare -A TAKEN=()
alloc_port() { # alloc_port VAR: a free port in 20000-60000 outside the ephemeral range, not yet handed out
  local p used tries
  used=" $(used_ports | tr '\n' ' ') "
  for ((tries = 0; tries < 1000; tries++)); do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 40001))
    ((p >= EPH_LO && p <= EPH_HI)) && continue
    [[ $used == *" $p "* || -n ${TAKEN[$p]:-} ]] && continue
    TAKEN[$p]=1
    printf -v "$1" '%s' "$p"
    return 0
  done
  fail "no free port found in 20000-60000"
}

proc_start_time() { # field 22 of /proc/PID/stat (after the parenthesised comm)
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }
  awk '{print $20}' <<<"$s"
}

alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }
group_alive() { [[ -n ${1:-} ]] && kill -0 -- "-$1" 2>/dev/null; }

# Kill a process group: SIGTERM, wait up to $2 seconds (default 10), then SIGKILL.
kill_group() {
  local pg=$1 wait=${2:-10} i
  group_alive "$pg" || return 0
  kill -TERM -- "-$pg" 2>/dev/null || true
  for ((i = 0; i < wait * 10; i++)); do
    group_alive "$pg" || return 0
    sleep 0.1
  done
  kill -KILL -- "-$pg" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    group_alive "$pg" || return 0
    sleep 0.1
  done
}

log_tail() {
  local log=$DIR/logs/$1.log
  if [[ -f $log ]]; then
    echo "---- last lines of $log ----" >&2
    tail -n "${2:-30}" "$log" >&2
    echo "----" >&2
  fi
}

# The owner: the process whose death takes the test bed down with it.
default_owner() {
  local pid=$PPID ppid cmd pcmd comm
  while [[ $pid -gt 1 ]]; do
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || break
    case $comm in
      sh | bash | dash | zsh | ksh) ;;
      *) break ;;
    esac
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
    ppid=$(sed 's/.*) //' "/proc/$pid/stat" | awk '{print $2}')
    pcmd=$(tr '\0' ' ' <"/proc/$ppid/cmdline" 2>/dev/null || true)
    # `sh -c CMD` wrappers (system(), popen()) and subshells ($(...), pipelines) end right after us.
    if [[ " $cmd " == *" -c "* || "$cmd" == "$pcmd" ]]; then
      pid=$ppid
      continue
    fi
    break
  done
  echo "$pid"
}

# ---------------------------------------------------------------------------------------------------
# certificates

openssl_quiet() { openssl "$@" 2>>"$DIR/logs/openssl.log" >/dev/null; }

make_ca() {
  openssl_quiet genrsa -out "$PKI/ca.key" 2048
  openssl_quiet req -x509 -new -key "$PKI/ca.key" -sha256 -days 3650 -subj "/CN=lifeboat-testbed-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$PKI/ca.crt"
}

# make_cert NAME SUBJECT EKU [SAN]
make_cert() {
  local name=$1 subj=$2 eku=$3 san=${4:-} ext
  ext=$PKI/$name.ext
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    if [[ -n $san ]]; then echo "subjectAltName=$san"; fi
  } >"$ext"
  openssl_quiet genrsa -out "$PKI/$name.key" 2048
  openssl_quiet req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr"
  openssl_quiet x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$ext" -out "$PKI/$name.crt"
  rm -f "$PKI/$name.csr" "$ext"
  chmod 0600 "$PKI/$name.key"
}

# write_kubeconfig FILE CERTNAME USER (CA and client cert inline, server = the API server).
# Shaped as bootkube v0.14 renders its kubeconfigs (auth/kubeconfig, auth/kubeconfig-kubelet): one
# cluster "local", one user, one context WITHOUT a name and no current-context. client-go (the
# Kubernetes components, kubectl) selects the context named "" then; every test that uses the test
# bed's kubeconfigs runs Lifeboat on that shape too (issue #10).
write_kubeconfig() {
  local file=$1 cert=$2 user=$3
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 "$PKI/$cert.crt")
    client-key-data: $(base64 -w0 "$PKI/$cert.key")
contexts:
- context:
    cluster: local
    user: $user
EOF
  chmod 0600 "$file"
}

# ---------------------------------------------------------------------------------------------------
# components

# Every component's command line, built from DIR/env.
component_cmd() {
  local c=$1 i
  case $c in
    etcd)
      CMD=(/usr/bin/etcd --name testbed --data-dir "$DIR/etcd"
        --listen-client-urls "$ETCD_ENDPOINTS" --advertise-client-urls "$ETCD_ENDPOINTS"
        --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT"
        --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT"
        --initial-cluster "testbed=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state new
        --cert-file "$PKI/etcd-server.crt" --key-file "$PKI/etcd-server.key"
        --client-cert-auth --trusted-ca-file "$ETCD_CA"
        --logger zap --log-outputs stderr)
      ;;
    apiserver)
      # shellcheck disable=SC2054 # the commas are part of flag values
      CMD=("$TESTBED_BIN/kube-apiserver"
        --advertise-address=127.0.0.1 --bind-address=127.0.0.1 --secure-port="$APISERVER_PORT"
        --insecure-port=0
        --etcd-servers="$ETCD_ENDPOINTS" --etcd-cafile="$ETCD_CA" --etcd-certfile="$ETCD_CERT"
        --etcd-keyfile="$ETCD_KEY" --etcd-prefix="$ETCD_PREFIX"
        --client-ca-file="$CA_CERT" --tls-cert-file="$PKI/apiserver.crt"
        --tls-private-key-file="$PKI/apiserver.key"
        --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt"
        --kubelet-client-key="$PKI/apiserver-kubelet-client.key"
        --kubelet-preferred-address-types=InternalIP
        --service-account-key-file="$SA_PUB" --service-account-signing-key-file="$SA_KEY"
        --service-account-issuer=https://kubernetes.default.svc.cluster.local
        --api-audiences=https://kubernetes.default.svc.cluster.local
        --service-cluster-ip-range=10.0.0.0/24
        --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction
        --allow-privileged=true --endpoint-reconciler-type=none --profiling=false)
      if [[ -n ${ENCRYPTION_CONFIG:-} ]]; then CMD+=(--encryption-provider-config="$ENCRYPTION_CONFIG"); fi
      if [[ -n ${STORAGE_MEDIA_TYPE:-} ]]; then CMD+=(--storage-media-type="$STORAGE_MEDIA_TYPE"); fi
      for ((i = 1; i <= ${APISERVER_ARGS:-0}; i++)); do
        local var=APISERVER_ARG_$i
        CMD+=("${!var}")
      done
      ;;
    controller-manager)
      CMD=("$TESTBED_BIN/kube-controller-manager"
        --kubeconfig="$DIR/kubeconfig/controller-manager.kubeconfig"
        --authentication-kubeconfig="$DIR/kubeconfig/controller-manager.kubeconfig"
        --authorization-kubeconfig="$DIR/kubeconfig/controller-manager.kubeconfig"
        --leader-elect=false --port=0 --bind-address=127.0.0.1
        --secure-port="$CONTROLLER_MANAGER_PORT" --cert-dir="$DIR/controller-manager"
        --service-account-private-key-file="$SA_KEY" --root-ca-file="$CA_CERT"
        --cluster-signing-cert-file="$CA_CERT" --cluster-signing-key-file="$PKI/ca.key"
        --use-service-account-credentials=true --service-cluster-ip-range=10.0.0.0/24
        --profiling=false)
      ;;
    scheduler)
      CMD=("$TESTBED_BIN/kube-scheduler"
        --kubeconfig="$DIR/kubeconfig/scheduler.kubeconfig"
        --authentication-kubeconfig="$DIR/kubeconfig/scheduler.kubeconfig"
        --authorization-kubeconfig="$DIR/kubeconfig/scheduler.kubeconfig"
        --leader-elect=false --port=0 --bind-address=127.0.0.1
        --secure-port="$SCHEDULER_PORT" --cert-dir="$DIR/scheduler" --profiling=false)
      ;;
    containerd-*)
      i=${c#containerd-}
      node_vars "$i"
      is_real_node "$i" || fail "node-$i is not a real node: no containerd"
      real_node_vars "$i"
      CMD=(/usr/bin/containerd --config "$NCTRD/config.toml")
      ;;
    node-*)
      i=${c#node-}
      node_vars "$i"
      if is_real_node "$i"; then
        real_node_vars "$i"
        real_kubelet_cmd
        return
      fi
      CMD=(env "TMPDIR=$NROOT/tmp" "$TESTBED_BIN/lifeboat-hollow-node"
        --name="$NNAME" --kubeconfig="$NKUBECONFIG" --root-dir="$NROOT"
        --pod-manifest-path="$NMANIFESTS" --cri-socket="$NSOCK"
        --port="$NPORT" --read-only-port="$NRO" --healthz-port="$NHEALTHZ" --address=127.0.0.1
        --file-check-frequency=1s --client-ca-file="$CA_CERT")
      ;;
    *) fail "unknown component $c (etcd, apiserver, controller-manager, scheduler, node-<i>)" ;;
  esac
}

node_vars() {
  local i=$1 v
  [[ $i =~ ^[0-9]+$ ]] && ((i >= 1 && i <= ${NODE_COUNT:-0})) || fail "no node-$i in this test bed"
  v=NODE_${i}_NAME; NNAME=${!v}
  v=NODE_${i}_ROOT; NROOT=${!v}
  v=NODE_${i}_MANIFESTS; NMANIFESTS=${!v}
  v=NODE_${i}_CRI_SOCKET; NSOCK=${!v}
  v=NODE_${i}_PORT; NPORT=${!v}
  v=NODE_${i}_READONLY_PORT; NRO=${!v}
  v=NODE_${i}_HEALTHZ_PORT; NHEALTHZ=${!v}
  v=NODE_${i}_KUBECONFIG; NKUBECONFIG=${!v}
}

# Start one component in a process group of its own (its pid is the group id).
launch() {
  local c=$1 pid pgid
  component_cmd "$c"
  mkdir -p "$DIR/logs" "$DIR/pids"
  echo "==== $(date -u +%FT%TZ) starting: ${CMD[*]}" >>"$DIR/logs/$c.log"
  # A clean environment: etcd, for one, takes ETCD_* variables as flags and refuses duplicates.
  (cd "$DIR" && exec setsid env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME="$HOME" LANG=C.UTF-8 "${CMD[@]}" </dev/null >>"$DIR/logs/$c.log" 2>&1 9>&-) &
  pid=$!
  echo "$pid" >"$DIR/pids/$c.pid"
  # In a shell without job control a background child is no group leader, so setsid(1) does not
  # fork and the pid is the new group's id.
  sleep 0.05
  pgid=$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ' || true)
  if [[ -n $pgid && $pgid != "$pid" ]]; then
    echo "==> $PROG: warning: $c (pid $pid) is in process group $pgid, not its own" >&2
  fi
}

pid_of() { cat "$DIR/pids/$1.pid" 2>/dev/null || true; }

curl_admin() { curl -sS --max-time 5 --cacert "$CA_CERT" --cert "$ADMIN_CERT" --key "$ADMIN_KEY" "$@"; }

# wait_for COMPONENT TIMEOUT CHECK...: polls CHECK until it succeeds; fails early if the process died.
wait_for() {
  local c=$1 timeout=$2 t0=$SECONDS pid
  shift 2
  pid=$(pid_of "$c")
  while ! "$@" >/dev/null 2>&1; do
    if ! alive "$pid"; then
      echo "==> $PROG: $c exited during start-up" >&2
      log_tail "$c"
      return 1
    fi
    if ((SECONDS - t0 >= timeout)); then
      echo "==> $PROG: $c not ready after ${timeout}s (waiting for: $*)" >&2
      log_tail "$c"
      return 1
    fi
    sleep 0.5
  done
}

etcd_ready() {
  curl -sS --max-time 3 --cacert "$ETCD_CA" --cert "$ETCD_CERT" --key "$ETCD_KEY" \
    "$ETCD_ENDPOINTS/health" | grep -q '"health":"true"'
}
apiserver_ready() { [[ $(curl_admin "$APISERVER_URL/readyz") == ok ]]; }
healthz_ok() { [[ $(curl -sk --max-time 3 "https://127.0.0.1:$1/healthz") == ok ]]; }
node_ready() { # node_ready NAME SINCE: Ready, with a heartbeat from this kubelet (at or after SINCE)
  local st
  st=$(kc get node "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].lastHeartbeatTime}') || return 1
  [[ ${st%% *} == True && ! ${st#* } < $2 ]]
}
node_labeled() { # NodeRestriction forbids kubelets to set node-role labels: the admin does it.
  kc label node "$1" --overwrite node-role.kubernetes.io/master= >/dev/null 2>&1
}

kc() { "$KUBECTL" --kubeconfig "$KUBECONFIG" "$@"; }

# Start and wait until ready; on failure stop it again.
start_component() {
  local c=$1 pid
  component_cmd "$c" # fails on an unknown component
  pid=$(pid_of "$c")
  if alive "$pid"; then say "$c already running (pid $pid)"; return 0; fi
  begin_component "$c"
  await_component "$c"
}

begin_component() {
  say "starting $1"
  STARTED_AT[$1]=$SECONDS
  SINCE[$1]=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  if [[ $1 == node-* ]] && is_real_node "${1#node-}"; then
    begin_real_node "${1#node-}" || return 1
  fi
  launch "$1"
}
declare -A STARTED_AT=() SINCE=()

await_component() {
  local c=$1 ok=0
  case $c in
    etcd) wait_for etcd 60 etcd_ready && ok=1 ;;
    apiserver) wait_for apiserver 120 apiserver_ready && ok=1 ;;
    controller-manager) wait_for "$c" 60 healthz_ok "$CONTROLLER_MANAGER_PORT" && ok=1 ;;
    scheduler) wait_for "$c" 60 healthz_ok "$SCHEDULER_PORT" && ok=1 ;;
    containerd-*)
      node_vars "${c#containerd-}"
      wait_for "$c" 60 containerd_ready && ok=1
      ;;
    node-*)
      node_vars "${c#node-}"
      wait_for "$c" 120 healthz_node && wait_for "$c" 120 node_labeled "$NNAME" &&
        wait_for "$c" 120 node_ready "$NNAME" "${SINCE[$c]}" && ok=1
      ;;
  esac
  if ((ok == 0)); then
    stop_component "$c" quiet
    return 1
  fi
  say "$c ready in $((SECONDS - STARTED_AT[$c])) s (pid $(pid_of "$c"))"
}
healthz_node() { [[ $(curl -s --max-time 3 "http://127.0.0.1:$NHEALTHZ/healthz") == ok ]]; }

# stop_component C [quiet]: SIGTERM, SIGKILL after $STOP_GRACE seconds (0: SIGKILL at once, a crash).
# The API server takes up to a minute to drain after SIGTERM, hence the short default.
STOP_GRACE=${TESTBED_STOP_GRACE:-5}
stop_component() {
  local c=$1 pid
  if [[ $c == node-* ]] && is_real_node "${c#node-}"; then
    [[ ${2:-} == quiet ]] || say "powering off $c (SIGKILL to its kubelet, containerd, shims and containers)"
    power_off_node "${c#node-}"
    return
  fi
  pid=$(pid_of "$c")
  if [[ -n $pid ]]; then
    [[ ${2:-} == quiet ]] || say "stopping $c (pid $pid)"
    if ((STOP_GRACE == 0)); then
      kill -KILL -- "-$pid" 2>/dev/null || true
      kill_group "$pid" 1
    else
      kill_group "$pid" "$STOP_GRACE"
    fi
  fi
  rm -f "$DIR/pids/$c.pid"
}

# ---------------------------------------------------------------------------------------------------
# watchdog: kills every component's group when the owner dies or DIR/pids/watchdog.pid goes away.

start_watchdog() {
  local owner=$1 st
  st=$(proc_start_time "$owner") || fail "owner process $owner not found"
  echo "$owner $st" >"$DIR/owner"
  (
    exec setsid bash -c '
      dir=$1 owner=$2 st=$3 script=$4
      me=$$
      start_time() { local s; s=$(cat /proc/$1/stat 2>/dev/null) || return 1; s=${s##*) }; set -- $s; echo ${20}; }
      while :; do
        sleep 1
        [[ "$(cat "$dir/pids/watchdog.pid" 2>/dev/null)" == "$me" ]] || exit 0
        [[ "$(start_time "$owner")" == "$st" ]] && continue
        echo "$(date -u +%FT%TZ) owner $owner gone: stopping the test bed"
        for f in "$dir"/pids/*.pid; do
          [[ $f == */watchdog.pid ]] && continue
          pg=$(cat "$f" 2>/dev/null) || continue
          [[ -n $pg ]] && kill -TERM -- "-$pg" 2>/dev/null
        done
        sleep 5
        for f in "$dir"/pids/*.pid; do
          [[ $f == */watchdog.pid ]] && continue
          pg=$(cat "$f" 2>/dev/null) || continue
          [[ -n $pg ]] && kill -KILL -- "-$pg" 2>/dev/null
          rm -f "$f"
        done
        rm -f "$dir/pids/watchdog.pid"
        # Real nodes leave shims, containers, mounts and cgroups: `down` removes them.
        grep -q "^NODE_[0-9]*_RUNTIME=containerd" "$dir/env" 2>/dev/null &&
          TESTBED_OWNER_PID=none bash "$script" down "$dir"
        exit 0
      done' watchdog "$DIR" "$owner" "$st" "$HERE/testbed.sh" </dev/null >>"$DIR/logs/watchdog.log" 2>&1 9>&-
  ) &
  echo "$!" >"$DIR/pids/watchdog.pid"
}

# ---------------------------------------------------------------------------------------------------
# subcommands

load_env() {
  [[ -f $DIR/env ]] || fail "$DIR/env not found: no test bed in $DIR"
  # shellcheck disable=SC1091
  source "$DIR/env"
  PKI=$DIR/pki
}

cmd_up() {
  local controllers=0 nodes=0 enc="" media="" extra=() real=0 apiserver=1
  local -a images=()
  while (($#)); do
    case $1 in
      --controllers) controllers=1 ;;
      --real-nodes) real=1 ;;
      --no-apiserver) apiserver=0 ;;
      --image) images+=("$(realpath "${2:?--image TAR}")"); shift ;;
      --image=*) images+=("$(realpath "${1#*=}")") ;;
      --nodes) nodes=${2:?--nodes N}; shift ;;
      --nodes=*) nodes=${1#*=} ;;
      --encryption-config) enc=${2:?--encryption-config FILE}; shift ;;
      --encryption-config=*) enc=${1#*=} ;;
      --storage-media-type) media=${2:?--storage-media-type T}; shift ;;
      --storage-media-type=*) media=${1#*=} ;;
      --apiserver-arg) extra+=("${2:?--apiserver-arg FLAG}"); shift ;;
      --apiserver-arg=*) extra+=("${1#*=}") ;;
      *) fail "up: unknown option $1" ;;
    esac
    shift
  done
  [[ $nodes =~ ^[0-9]+$ ]] || fail "--nodes wants a number"
  local a
  for a in "${extra[@]}"; do
    # DIR/env is sourced by the shell and read line by line by src/testing: plain words only.
    [[ $a =~ ^--[A-Za-z0-9-]+(=[A-Za-z0-9_.,:/=-]*)?$ ]] || fail "--apiserver-arg: \"$a\" is not a plain --flag[=value]"
  done
  if [[ -n $enc ]]; then [[ -f $enc ]] || fail "encryption config $enc not found"; fi
  if [[ -f $DIR/env ]]; then
    load_env
    local c
    for c in etcd apiserver; do
      alive "$(pid_of $c)" && fail "a test bed is already running in $DIR (testbed.sh down $DIR first)"
    done
  fi
  for tool in curl openssl ss setsid base64; do command -v $tool >/dev/null || fail "$tool not found"; done

  local t_up=$SECONDS
  TESTBED_BIN=$(binaries) || fail "building the binaries failed"
  if ((real)); then
    for tool in containerd ctr runc; do command -v $tool >/dev/null || fail "$tool not found; run scripts/install-deps.sh --testbed"; done
    [[ -x $TESTBED_BIN/lifeboat-kubelet ]] || fail "$TESTBED_BIN/lifeboat-kubelet not found (testbed/build.sh builds it)"
    [[ -d /usr/lib/cni ]] || fail "/usr/lib/cni not found; run scripts/install-deps.sh --testbed"
    local img
    img=$("$HERE/images.sh" pause) || fail "building the pause image failed"
    images=("$img" "${images[@]}")
    img=$("$HERE/images.sh" control-plane "$TESTBED_BIN") || fail "building the control-plane image failed"
    images=("$img" "${images[@]}")
    for img in "${images[@]}"; do [[ -f $img ]] || fail "image $img not found"; done
  fi
  if [[ -x $TESTBED_BIN/kubectl ]]; then KUBECTL=$TESTBED_BIN/kubectl; else KUBECTL=$(command -v kubectl) || fail "no kubectl"; fi

  # Fresh state (logs of an earlier run are kept, appended to).
  rm -rf "$DIR/etcd" "$DIR/pki" "$DIR/kubeconfig" "$DIR/nodes" "$DIR/pids" "$DIR/controller-manager" \
    "$DIR/scheduler" "$DIR/env" "$DIR/owner"
  mkdir -p "$DIR/logs" "$DIR/pids" "$DIR/kubeconfig" "$DIR/pki"
  chmod 0700 "$DIR/pki"
  PKI=$DIR/pki

  # Ports
  local ETCD_PORT ETCD_PEER_PORT APISERVER_PORT CONTROLLER_MANAGER_PORT SCHEDULER_PORT p1 p2 p3
  alloc_port ETCD_PORT
  alloc_port ETCD_PEER_PORT
  alloc_port APISERVER_PORT
  alloc_port CONTROLLER_MANAGER_PORT
  alloc_port SCHEDULER_PORT

  say "generating certificates in $PKI"
  make_ca
  make_cert etcd-server "/CN=etcd-server" serverAuth,clientAuth "IP:127.0.0.1,DNS:localhost"
  make_cert etcd-client "/O=system:masters/CN=kube-apiserver-etcd-client" clientAuth
  make_cert apiserver "/CN=kube-apiserver" serverAuth \
    "IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.0.0.1"
  make_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
  make_cert admin "/O=system:masters/CN=admin" clientAuth
  make_cert controller-manager "/CN=system:kube-controller-manager" clientAuth
  make_cert scheduler "/CN=system:kube-scheduler" clientAuth
  openssl_quiet genrsa -out "$PKI/service-account.key" 2048
  openssl_quiet rsa -in "$PKI/service-account.key" -pubout -out "$PKI/service-account.pub"
  chmod 0600 "$PKI/service-account.key"

  if [[ -n $enc ]]; then cp "$enc" "$DIR/encryption-config.yaml"; enc=$DIR/encryption-config.yaml; fi

  write_kubeconfig "$DIR/kubeconfig/admin.kubeconfig" admin admin
  write_kubeconfig "$DIR/kubeconfig/controller-manager.kubeconfig" controller-manager system:kube-controller-manager
  write_kubeconfig "$DIR/kubeconfig/scheduler.kubeconfig" scheduler system:kube-scheduler

  local owner=$OPT_OWNER
  [[ -z $owner ]] && owner=$(default_owner)

  {
    echo "TESTBED_DIR=$DIR"
    echo "TESTBED_BIN=$TESTBED_BIN"
    echo "TESTBED_OWNER_PID=$owner"
    echo "KUBECTL=$KUBECTL"
    echo "KUBECONFIG=$DIR/kubeconfig/admin.kubeconfig"
    echo "APISERVER_URL=https://127.0.0.1:$APISERVER_PORT"
    echo "APISERVER_PORT=$APISERVER_PORT"
    echo "CA_CERT=$PKI/ca.crt"
    echo "CA_KEY=$PKI/ca.key"
    echo "ADMIN_CERT=$PKI/admin.crt"
    echo "ADMIN_KEY=$PKI/admin.key"
    echo "SA_KEY=$PKI/service-account.key"
    echo "SA_PUB=$PKI/service-account.pub"
    echo "ETCD_ENDPOINTS=https://127.0.0.1:$ETCD_PORT"
    echo "ETCD_PORT=$ETCD_PORT"
    echo "ETCD_PEER_PORT=$ETCD_PEER_PORT"
    echo "ETCD_DATA_DIR=$DIR/etcd"
    echo "ETCD_CA=$PKI/ca.crt"
    echo "ETCD_CERT=$PKI/etcd-client.crt"
    echo "ETCD_KEY=$PKI/etcd-client.key"
    echo "ETCD_PREFIX=/registry"
    echo "ENCRYPTION_CONFIG=$enc"
    echo "STORAGE_MEDIA_TYPE=$media"
    echo "APISERVER_ARGS=${#extra[@]}"
    for ((i = 0; i < ${#extra[@]}; i++)); do echo "APISERVER_ARG_$((i + 1))=${extra[i]}"; done
    echo "CONTROLLERS=$controllers"
    echo "CONTROLLER_MANAGER_PORT=$CONTROLLER_MANAGER_PORT"
    echo "SCHEDULER_PORT=$SCHEDULER_PORT"
    echo "NODE_COUNT=$nodes"
    echo "APISERVER=$apiserver"
    echo "NODE_IMAGES=$(IFS=:; echo "${images[*]}")"
  } >"$DIR/env"

  local i root sockdir
  # Unix socket paths must stay under 108 bytes: fall back to a short directory outside DIR.
  sockdir=$DIR/run
  if ((${#sockdir} > 80)); then
    sockdir=${TMPDIR:-/tmp}/lifeboat-tb-$(echo -n "$DIR" | sha256sum | cut -c1-12)
  fi
  local p4 tbid
  tbid=$(echo -n "$DIR" | sha256sum | cut -c1-12)
  for ((i = 1; i <= nodes; i++)); do
    root=$DIR/nodes/node-$i
    mkdir -p "$root/kubelet" "$root/manifests" "$root/kubelet/tmp" "$sockdir"
    make_cert "node-$i" "/O=system:nodes/CN=system:node:node-$i" clientAuth
    write_kubeconfig "$root/kubeconfig" "node-$i" "system:node:node-$i"
    alloc_port p1
    alloc_port p2
    alloc_port p3
    {
      echo "NODE_${i}_NAME=node-$i"
      echo "NODE_${i}_ROOT=$root/kubelet"
      if ((real)); then
        # The node's /etc/kubernetes: static pods in manifests/ as on a kubeadm or bootkube node.
        mkdir -p "$root/etc-kubernetes/manifests"
        echo "NODE_${i}_ETC=$root/etc-kubernetes"
        echo "NODE_${i}_MANIFESTS=$root/etc-kubernetes/manifests"
        alloc_port p4
        echo "NODE_${i}_RUNTIME=containerd"
        echo "NODE_${i}_CRI_SOCKET=$sockdir/node-$i-containerd.sock"
        echo "NODE_${i}_CONTAINERD_DIR=$root/containerd"
        echo "NODE_${i}_CGROUP_ROOT=/lifeboat-$tbid-node-$i"
        echo "NODE_${i}_STREAM_PORT=$p4"
      else
        echo "NODE_${i}_MANIFESTS=$root/manifests"
        echo "NODE_${i}_RUNTIME=fake"
        echo "NODE_${i}_CRI_SOCKET=$sockdir/node-$i-cri.sock"
      fi
      echo "NODE_${i}_PORT=$p1"
      echo "NODE_${i}_READONLY_PORT=$p2"
      echo "NODE_${i}_HEALTHZ_PORT=$p3"
      echo "NODE_${i}_KUBECONFIG=$root/kubeconfig"
      echo "NODE_${i}_CERT=$PKI/node-$i.crt"
      echo "NODE_${i}_KEY=$PKI/node-$i.key"
    } >>"$DIR/env"
  done
  load_env

  # From here on, a failure stops whatever was started.
  trap 'rc=$?; if ((rc != 0)); then echo "==> $PROG: up failed; stopping what it started" >&2; cmd_down; fi' EXIT
  if [[ $owner != none ]]; then start_watchdog "$owner"; fi

  start_component etcd
  if ((apiserver)); then start_component apiserver; fi
  if ((controllers)); then
    start_component controller-manager
    start_component scheduler
  fi
  # Nodes start side by side.
  for ((i = 1; i <= nodes; i++)); do begin_component "node-$i"; done
  if ((apiserver)); then
    for ((i = 1; i <= nodes; i++)); do await_component "node-$i"; done
  else
    # No API server to register with: the kubelet serving its healthz port is all there is to see.
    for ((i = 1; i <= nodes; i++)); do
      node_vars "$i"
      wait_for "node-$i" 120 healthz_node || fail "node-$i did not start"
      say "node-$i started in $((SECONDS - STARTED_AT[node-$i])) s (no API server to register with yet)"
    done
  fi
  trap - EXIT
  say "up in $((SECONDS - t_up)) s; source $DIR/env"
}

# down: SIGTERM to every group at once, SIGKILL to what is left after ${TESTBED_DOWN_GRACE:-5} s
# (the API server can take 10 s or more to drain).
cmd_down() {
  local t0=$SECONDS f pg grace=${TESTBED_DOWN_GRACE:-5} left i
  # Real nodes first: their kubelet, containerd, shims and containers get SIGKILL, then their
  # mounts, state, cgroups and pod logs go (also when their pid files are gone already).
  if [[ -f $DIR/env ]]; then
    load_env
    for ((i = 1; i <= ${NODE_COUNT:-0}; i++)); do
      if is_real_node "$i"; then remove_node "$i"; fi
    done
  fi
  [[ -d $DIR/pids ]] || { say "nothing running in $DIR"; return 0; }
  local -a groups=()
  for f in "$DIR"/pids/*.pid; do
    [[ -e $f ]] || continue
    pg=$(cat "$f" 2>/dev/null || true)
    [[ -n $pg ]] && groups+=("$pg")
  done
  rm -f "$DIR"/pids/*.pid # the watchdog sees its pid file go and exits
  ((${#groups[@]})) || { say "nothing running in $DIR"; return 0; }
  for pg in "${groups[@]}"; do kill -TERM -- "-$pg" 2>/dev/null || true; done
  for ((i = 0; i < grace * 10; i++)); do
    left=0
    for pg in "${groups[@]}"; do group_alive "$pg" && left=1; done
    ((left)) || break
    sleep 0.1
  done
  for pg in "${groups[@]}"; do kill_group "$pg" 0; done
  say "down in $((SECONDS - t0)) s"
}

cmd_start() {
  local c=${1:?component}
  load_env
  [[ $c == controller-manager || $c == scheduler ]] && ((CONTROLLERS == 0)) &&
    say "note: test bed was brought up without --controllers; starting $c anyway"
  if [[ ${2:-} == --no-wait ]]; then
    # Launched (a real node: containerd answering, the kubelet started), not waited for.
    component_cmd "$c"
    alive "$(pid_of "$c")" && { say "$c already running"; return 0; }
    begin_component "$c" || fail "$c failed to start"
    return 0
  fi
  start_component "$c" || fail "$c failed to start"
}

# reboot DIR node-<i> [--no-wait]: a real node's power loss and power on.
cmd_reboot() {
  local c=${1:?node-<i>}
  load_env
  [[ $c == node-* ]] && is_real_node "${c#node-}" || fail "reboot: $c is not a real node"
  stop_component "$c"
  say "$c powered off at $(date -u +%FT%T.%3NZ)"
  cmd_start "$c" "${2:-}"
}

cmd_stop() {
  local c=${1:?component}
  case ${2:-} in
    "") ;;
    --kill) STOP_GRACE=0 ;;
    --grace) STOP_GRACE=${3:?--grace SECONDS} ;;
    --grace=*) STOP_GRACE=${2#*=} ;;
    *) fail "stop: unknown option $2" ;;
  esac
  load_env
  component_cmd "$c" # validates the name
  stop_component "$c"
}

cmd_status() {
  load_env
  local f c pid
  for f in "$DIR"/pids/*.pid; do
    [[ -e $f ]] || continue
    c=$(basename "$f" .pid)
    pid=$(cat "$f")
    if alive "$pid"; then echo "$c running (pid $pid)"; else echo "$c dead (pid $pid)"; fi
  done
}

cmd_load_fixture() {
  load_env
  local wait_running=0
  [[ ${1:-} == --wait-running ]] && wait_running=1
  local t0=$SECONDS
  say "applying fixture from $HERE/fixture"
  local out
  if ! out=$(kc apply -f "$HERE/fixture" 2>&1); then
    echo "$out" >&2
    fail "kubectl apply of the fixture failed"
  fi
  local objects=(
    secret/kube-apiserver configmap/kube-apiserver-config secret/controller-manager
    configmap/kube-scheduler-config secret/etcd-client secret/env-secret
    serviceaccount/kube-controller-manager serviceaccount/pod-checkpointer
    daemonset/kube-apiserver deployment/kube-controller-manager deployment/kube-scheduler
    daemonset/pod-checkpointer deployment/coredns
  )
  local o
  for o in "${objects[@]}"; do
    while ! kc -n kube-system get "$o" >/dev/null 2>&1; do
      ((SECONDS - t0 < 60)) || fail "$o does not exist after 60 s"
      sleep 0.5
    done
  done
  if ((wait_running)); then
    say "waiting for the fixture's pods to run"
    local want=$((NODE_COUNT * 2 + 2 + 1 + 1)) # 2 DaemonSets per node, 2+1+1 Deployment replicas
    while :; do
      local running
      running=$(kc -n kube-system get pods --field-selector=status.phase=Running -o name 2>/dev/null |
        grep -cE 'pod/(kube-apiserver|pod-checkpointer|kube-controller-manager|kube-scheduler|coredns)-' || true)
      ((running >= want)) && break
      if ((SECONDS - t0 > 180)); then
        kc -n kube-system get pods -o wide >&2 || true
        fail "only $running of $want fixture pods Running after 180 s"
      fi
      sleep 1
    done
  fi
  say "fixture loaded in $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------------------------------------------

(($# >= 2)) || usage
sub=$1
if [[ $sub == up ]]; then
  DIR=$(abspath "$2")
else
  if [[ ! -d $2 ]]; then
    [[ $sub == down ]] && { say "nothing running in $2"; exit 0; }
    fail "no test bed directory $2"
  fi
  DIR=$(cd "$2" && pwd -P)
fi
shift 2
case $sub in
  up)
    # Two test beds coming up at once can still pick the same free port: try again on a clash.
    for attempt in 1 2 3; do
      # In the background so a signal to us reaches it (and no `||`: that would switch off errexit).
      (
        set -e
        trap 'exit 143' TERM INT HUP
        cmd_up "$@"
      ) &
      child=$!
      trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 143' TERM INT HUP
      rc=0
      wait "$child" || rc=$?
      trap - TERM INT HUP
      ((rc == 0)) && exit 0
      clash=0
      for log in "$DIR"/logs/*.log; do
        [[ -e $log ]] || continue
        awk '/^==== /{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}' "$log" |
          grep -q "address already in use" && clash=1
      done
      ((clash && attempt < 3)) || exit "$rc"
      say "a port was taken meanwhile; trying again with other ports"
    done
    ;;
  down) cmd_down ;;
  start) cmd_start "$@" ;;
  reboot) cmd_reboot "$@" ;;
  stop) cmd_stop "$@" ;;
  status) cmd_status ;;
  load-fixture) cmd_load_fixture "$@" ;;
  *) usage ;;
esac
