# Real nodes of the test bed (sourced by testbed.sh): the kubelet v1.20.2 over Debian's containerd
# and runc, one containerd per node with its own root, state, sockets and runc root, the kubelet
# with its own root dir, cert dir, cgroup root, ports and static-pod dir. Pods run as real
# processes, in the node's cgroups under /sys/fs/cgroup/<controller>/<cgroup root>/.
#
# Power off (`stop DIR node-<i>`): SIGKILL to the kubelet, containerd, every shim of the node and
# every process in its cgroups; its mounts unmounted and containerd's state dir (tmpfs on a real
# machine) wiped, as after a power loss. The containerd root (images, snapshots), the kubelet's
# root dir and static-pod dir stay, as a disk would. Power on (`start DIR node-<i>`): containerd,
# then the kubelet. `down` also removes the node's cgroups, pod logs and shim sockets, so nothing of
# a node is left on the machine.

# The v1 hierarchies (and the cgroup2 mount) the kubelet looks for its cgroup root in.
cgroup_mounts() { awk '$9 == "cgroup" || $9 == "cgroup2" {print $5}' /proc/self/mountinfo; }

real_node_vars() { # after node_vars: the real node's paths
  local i=$1 v
  v=NODE_${i}_CONTAINERD_DIR; NCTRD=${!v}
  v=NODE_${i}_CGROUP_ROOT; NCGROOT=${!v}
  v=NODE_${i}_STREAM_PORT; NSTREAM=${!v}
  NNODEDIR=$(dirname "$NROOT")
}

is_real_node() { # is_real_node I
  local v=NODE_${1}_RUNTIME
  [[ ${!v:-} == containerd ]]
}

write_containerd_config() {
  mkdir -p "$NCTRD/root" "$NCTRD/state" "$NCTRD/cni/net.d" "$(dirname "$NSOCK")"
  # A CNI network of loopback only: the runtime reports NetworkReady (so the node turns Ready)
  # without touching the machine's interfaces; the test bed's pods use the host network.
  cat >"$NCTRD/cni/net.d/10-lifeboat-lo.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "lifeboat-lo", "plugins": [{"type": "loopback"}]}
EOF
  cat >"$NCTRD/config.toml" <<EOF
version = 2
root = "$NCTRD/root"
state = "$NCTRD/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "$NSOCK"
[ttrpc]
  address = "$NSOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$NCTRD/root/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "lifeboat.test/pause:1"
  stream_server_address = "127.0.0.1"
  stream_server_port = "$NSTREAM"
  # No CAP_SYS_RESOURCE here: runc must not lower oom_score_adj (else every sandbox fails).
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$NCTRD/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$NCTRD/state/runc"
EOF
}

make_cgroup_root() {
  local m
  while read -r m; do mkdir -p "$m$NCGROOT"; done < <(cgroup_mounts)
}

# Every cgroup below the node's cgroup root (and with `all` the root too), deepest first.
remove_cgroups() {
  local m d keep=${1:-}
  while read -r m; do
    [[ -d $m$NCGROOT ]] || continue
    while read -r d; do
      [[ $keep == keep && $d == "$m$NCGROOT" ]] && continue
      rmdir "$d" 2>/dev/null || true
    done < <(find "$m$NCGROOT" -depth -type d 2>/dev/null)
  done < <(cgroup_mounts)
}

# Pids of every process in the node's cgroups.
cgroup_pids() {
  local m
  while read -r m; do
    [[ -d $m$NCGROOT ]] || continue
    find "$m$NCGROOT" -name cgroup.procs -exec cat {} + 2>/dev/null
  done < <(cgroup_mounts) | sort -un
}

# The pids on stdin that are not zombies (those only wait to be reaped: nothing to kill).
not_zombies() {
  local p st
  while read -r p; do
    st=$({ cat "/proc/$p/stat"; } 2>/dev/null) || continue
    st=${st##*) }
    [[ ${st%% *} == Z ]] || echo "$p"
  done
}

# Pids of the node's shims (containerd-shim-runc-v2 ... -address <the node's socket>).
shim_pids() {
  local f p
  # One grep over every command line, then a closer look at the few that name the socket.
  for f in $(grep -lsaF -- "$NSOCK" /proc/[0-9]*/cmdline); do
    p=${f#/proc/}
    p=${p%/cmdline}
    [[ $({ cat "/proc/$p/comm"; } 2>/dev/null) == containerd-shim* ]] || continue
    { tr '\0' '\n' <"/proc/$p/cmdline"; } 2>/dev/null | grep -qxF -- "$NSOCK" && echo "$p"
  done
}

# Mount points under the node's directory, deepest first.
node_mounts() {
  awk -v root="$NNODEDIR/" 'index($5, root) == 1 || $5 == substr(root, 1, length(root) - 1) {print $5}' \
    /proc/self/mountinfo | awk '{print length($0) " " $0}' | sort -rn | cut -d' ' -f2-
}

unmount_node() {
  local m tries
  for tries in 1 2 3; do
    while read -r m; do
      [[ -n $m ]] || continue
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done < <(node_mounts)
    [[ -z $(node_mounts) ]] && return 0
  done
  echo "==> $PROG: warning: mounts left under $NNODEDIR: $(node_mounts | tr '\n' ' ')" >&2
}

# SIGKILL to everything of node I: a power loss.
power_off_node() {
  local i=$1 pids p n
  node_vars "$i"
  real_node_vars "$i"
  local kpid cpid
  kpid=$(pid_of "node-$i")
  cpid=$(pid_of "containerd-$i")
  if [[ -n $kpid ]]; then kill -KILL -- "-$kpid" 2>/dev/null || true; fi
  if [[ -n $cpid ]]; then kill -KILL -- "-$cpid" 2>/dev/null || true; fi
  # Shims first (they would reap and report), then whatever runs in the node's cgroups, until
  # nothing is left (a process may fork while we look).
  for ((n = 0; n < 100; n++)); do
    pids=$( (shim_pids; cgroup_pids) | sort -un | not_zombies)
    [[ -z $pids ]] && break
    for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
    sleep 0.1
  done
  if [[ -n $pids ]]; then echo "==> $PROG: warning: node-$i processes still alive: $pids" >&2; fi
  for p in $kpid $cpid; do
    for ((n = 0; n < 50; n++)); do group_alive "$p" || break; sleep 0.1; done
  done
  rm -f "$DIR/pids/node-$i.pid" "$DIR/pids/containerd-$i.pid"
  unmount_node
  # The shims' sockets live in containerd's own directory (/run/containerd/s): remove this
  # node's, named in its tasks' bundles, before the state goes.
  local a
  for a in "$NCTRD"/state/io.containerd.runtime.v2.task/*/*/address; do
    [[ -f $a ]] || continue
    p=$(sed -n 's#^unix://##p' "$a")
    if [[ $p == /run/containerd/s/* ]]; then rm -f "$p"; fi
  done
  # The state dir is a tmpfs on a real machine: gone after a power loss; so are the sockets and
  # the cgroups below the node's root.
  rm -rf "$NCTRD/state" "$NSOCK" "$NSOCK.ttrpc"
  remove_cgroups keep
}

# Everything of node I off the machine (at `down`): also its cgroup root and its pods' logs.
remove_node() {
  local i=$1 d uid id link ids
  node_vars "$i"
  real_node_vars "$i"
  # The kubelet of 1.20 writes container logs to /var/log/pods (not configurable), linked from
  # /var/log/containers/<pod>_<ns>_<container>-<id>.log. While containerd still answers, the links
  # whose container it knows are this node's: remove them and their pods' log dirs (a static pod
  # already removed has no pods/<uid> dir left to find it by).
  if ids=$(ctr -a "$NSOCK" -n k8s.io containers ls -q 2>/dev/null) && [[ -n $ids ]]; then
    for link in /var/log/containers/*.log; do
      [[ -L $link ]] || continue
      id=${link##*-}
      id=${id%.log}
      grep -qxF -- "$id" <<<"$ids" || continue
      d=$(readlink "$link")
      d=$(dirname "$(dirname "$d")")
      if [[ $d == /var/log/pods/?* ]]; then rm -rf -- "$d"; fi
      rm -f -- "$link"
    done
  fi
  power_off_node "$i"
  remove_cgroups all
  # The kubelet of 1.20 writes container logs to /var/log/pods (not configurable): remove this
  # node's pods' logs and the links to them.
  for d in "$NROOT"/pods/*/; do
    [[ -d $d ]] || continue
    uid=$(basename "$d")
    [[ $uid =~ ^[0-9a-f-]+$ ]] || continue
    rm -rf /var/log/pods/*_"$uid"
  done
  find /var/log/containers -maxdepth 1 -xtype l -delete 2>/dev/null || true
}

containerd_ready() { ctr -a "$NSOCK" version >/dev/null 2>&1; }

# Power on, part 1: cgroup root, containerd up and answering, images imported once.
begin_real_node() {
  local i=$1 img
  node_vars "$i"
  real_node_vars "$i"
  make_cgroup_root
  write_containerd_config
  if ! alive "$(pid_of "containerd-$i")"; then
    STARTED_AT[containerd-$i]=$SECONDS
    launch "containerd-$i"
    wait_for "containerd-$i" 60 containerd_ready || return 1
  fi
  local -a imgs=()
  IFS=: read -r -a imgs <<<"${NODE_IMAGES:-}"
  for img in "${imgs[@]}"; do import_image "$i" "$img" || return 1; done
}

# import_image I TARBALL: into the node's containerd (k8s.io namespace) unless it has it already.
import_image() {
  local i=$1 tar=$2 ref
  ref=$(tar -xOf "$tar" index.json | sed -n 's/.*"io.containerd.image.name":"\([^"]*\)".*/\1/p')
  [[ -n $ref ]] || { echo "==> $PROG: $tar names no image" >&2; return 1; }
  if ctr -a "$NSOCK" -n k8s.io images check "name==$ref" 2>/dev/null | grep -q complete; then
    [[ -f $NCTRD/images/$(basename "$tar") ]] && return 0
  fi
  ctr -a "$NSOCK" -n k8s.io images import --no-unpack=false "$tar" >>"$DIR/logs/containerd-$i.log" 2>&1 || {
    echo "==> $PROG: importing $tar into node-$i's containerd failed" >&2
    log_tail "containerd-$i"
    return 1
  }
  mkdir -p "$NCTRD/images" && : >"$NCTRD/images/$(basename "$tar")"
  say "node-$i: imported $ref"
}

# The node labels itself node.kubernetes.io/control-plane (a prefix a kubelet may set on itself):
# the kubelet of 1.20 admits pods against the node object it builds itself until its informer has
# the API's, so after a reboot with no API server a pod selecting a label only the admin set
# (node-role.kubernetes.io/master) is rejected for good ("Predicate NodeAffinity failed"), the
# controller manager's own pod among them.
real_kubelet_cmd() {
  CMD=("$TESTBED_BIN/lifeboat-kubelet"
    --hostname-override="$NNAME" --node-ip=127.0.0.1 --kubeconfig="$NKUBECONFIG"
    --node-labels=node.kubernetes.io/control-plane=
    --root-dir="$NROOT" --cert-dir="$NROOT/pki" --pod-manifest-path="$NMANIFESTS"
    --file-check-frequency=1s --address=127.0.0.1 --port="$NPORT" --read-only-port="$NRO"
    --healthz-port="$NHEALTHZ" --healthz-bind-address=127.0.0.1
    --client-ca-file="$CA_CERT" --authorization-mode=Webhook --authentication-token-webhook
    --container-runtime=remote --container-runtime-endpoint="unix://$NSOCK" --containerd="$NSOCK"
    --runtime-request-timeout=2m --pod-infra-container-image=lifeboat.test/pause:1
    --cgroup-driver=cgroupfs --cgroup-root="$NCGROOT" --fail-swap-on=false
    --make-iptables-util-chains=false --enforce-node-allocatable= --eviction-hard=
    --image-gc-high-threshold=100 --image-gc-low-threshold=99
    --volume-plugin-dir="$NROOT/volume-plugins" --serialize-image-pulls=false
    --node-status-update-frequency=4s --sync-frequency=10s --v=1)
}
