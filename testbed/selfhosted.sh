#!/usr/bin/env bash
# A self-hosted control plane for a real node of the test bed (testbed.sh up --real-nodes), the
# way bootkube users bring one up, and Lifeboat's checkpointer deployed from deploy/.
#
#   selfhosted.sh render DIR OUT [NODE]   # bootkube-shaped asset dir for `lifeboat start`
#   selfhosted.sh checkpointer DIR IMAGE [NODE]  # deploy/ adjusted for the node, on stdout
#
# render writes OUT/auth/kubeconfig (admin), OUT/tls (what the bootstrap pods mount, copied by
# `lifeboat start --bootstrap-secrets-dir $NODE_<i>_ETC/bootstrap-secrets`), OUT/bootstrap-manifests
# (kube-apiserver, kube-controller-manager, kube-scheduler as static pods) and OUT/manifests (their
# Secrets, the kube-apiserver DaemonSet annotated for checkpointing, the controller manager and
# scheduler Deployments). Everything runs from the image lifeboat.test/kube-control-plane:v1.20.2
# with host networking: the API server on the test bed's APISERVER_PORT (bootstrap and self-hosted
# copies share it with --permit-port-sharing, so either answers while both run), etcd the test
# bed's, the certificates the test bed's PKI. The controller manager and scheduler serve no port.
#
# checkpointer prints deploy/pod-checkpointer-rbac.yaml and deploy/pod-checkpointer.yaml with the
# adjustments deploy/pod-checkpointer.yaml asks for: the image; the runtime socket (the node's
# containerd); the node's own etc dir (NODE_<i>_ETC, holding the kubelet's static-pod dir) instead
# of /etc/kubernetes (same path inside and outside the container, as the
# checkpoints' hostPath volumes name host paths); the lock file and metrics port of this test bed;
# the API server's address (the node has no cluster DNS); the node selector on the label a real
# node of the test bed sets on itself (node.kubernetes.io/control-plane, see realnode.sh: a kubelet
# of 1.20 rejects pods selecting admin-set labels when it restarts with no API server).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IMAGE_CP=lifeboat.test/kube-control-plane:v1.20.2

die() { echo "==> selfhosted: ERROR: $*" >&2; exit 1; }
usage() { sed -n '5,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

load() {
  local dir=$1 node=${2:-1} v
  [[ -f $dir/env ]] || die "$dir/env not found: no test bed in $dir"
  # shellcheck disable=SC1091
  source "$dir/env"
  PKI=$dir/pki
  v=NODE_${node}_RUNTIME
  [[ ${!v:-} == containerd ]] || die "node-$node of $dir is not a real node (testbed.sh up --real-nodes)"
  v=NODE_${node}_ROOT; NROOT=${!v}
  v=NODE_${node}_MANIFESTS; NMANIFESTS=${!v}
  v=NODE_${node}_CRI_SOCKET; NSOCK=${!v}
  v=NODE_${node}_PORT; NPORT=${!v}
  v=NODE_${node}_READONLY_PORT; NRO=${!v}
  v=NODE_${node}_ETC; NETC=${!v}
}

b64() { base64 -w0 "$1"; }

# kubeconfig FILE CERT: a kubeconfig for the API server with the test bed CA and CERT's client cert.
kubeconfig() {
  cat <<EOF
apiVersion: v1
kind: Config
clusters:
- name: testbed
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: /etc/kubernetes/secrets/ca.crt
users:
- name: $2
  user:
    client-certificate: /etc/kubernetes/secrets/$2.crt
    client-key: /etc/kubernetes/secrets/$2.key
contexts:
- name: default
  context: {cluster: testbed, user: $2}
current-context: default
EOF
}

apiserver_args() { # the API server's flags, as YAML list items
  local a
  for a in --advertise-address=127.0.0.1 --bind-address=127.0.0.1 "--secure-port=$APISERVER_PORT" \
    --permit-port-sharing=true --insecure-port=0 "--etcd-servers=$ETCD_ENDPOINTS" \
    --etcd-cafile=/etc/kubernetes/secrets/ca.crt --etcd-certfile=/etc/kubernetes/secrets/etcd-client.crt \
    --etcd-keyfile=/etc/kubernetes/secrets/etcd-client.key "--etcd-prefix=$ETCD_PREFIX" \
    --client-ca-file=/etc/kubernetes/secrets/ca.crt --tls-cert-file=/etc/kubernetes/secrets/apiserver.crt \
    --tls-private-key-file=/etc/kubernetes/secrets/apiserver.key \
    --kubelet-client-certificate=/etc/kubernetes/secrets/apiserver-kubelet-client.crt \
    --kubelet-client-key=/etc/kubernetes/secrets/apiserver-kubelet-client.key \
    --kubelet-preferred-address-types=InternalIP \
    --service-account-key-file=/etc/kubernetes/secrets/service-account.pub \
    --service-account-signing-key-file=/etc/kubernetes/secrets/service-account.key \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --api-audiences=https://kubernetes.default.svc.cluster.local --service-cluster-ip-range=10.0.0.0/24 \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction --allow-privileged=true \
    --endpoint-reconciler-type=none --profiling=false; do
    echo "  - \"$a\""
  done
}

controller_manager_args() {
  local a
  for a in --kubeconfig=/etc/kubernetes/secrets/controller-manager.kubeconfig --leader-elect=true \
    --port=0 --secure-port=0 --service-account-private-key-file=/etc/kubernetes/secrets/service-account.key \
    --root-ca-file=/etc/kubernetes/secrets/ca.crt --cluster-signing-cert-file=/etc/kubernetes/secrets/ca.crt \
    --cluster-signing-key-file=/etc/kubernetes/secrets/ca.key --use-service-account-credentials=true \
    --service-cluster-ip-range=10.0.0.0/24 --profiling=false; do
    echo "  - \"$a\""
  done
}

scheduler_args() {
  local a
  for a in --kubeconfig=/etc/kubernetes/secrets/scheduler.kubeconfig --leader-elect=true --port=0 \
    --secure-port=0 --profiling=false; do
    echo "  - \"$a\""
  done
}

# Files of the control plane's Secret (also the bootstrap pods' secrets dir).
SECRET_FILES=(ca.crt ca.key apiserver.crt apiserver.key apiserver-kubelet-client.crt apiserver-kubelet-client.key
  etcd-client.crt etcd-client.key service-account.pub service-account.key controller-manager.crt
  controller-manager.key scheduler.crt scheduler.key)

# pod_spec NAME COMPONENT ARGS_FN SECRETS_VOLUME_YAML: the spec shared by static and self-hosted pods
pod_spec() {
  local indent=$1 comp=$2 args=$3 vol=$4
  sed "s/^/$indent/" <<EOF
hostNetwork: true
priorityClassName: system-node-critical
tolerations:
- {key: node-role.kubernetes.io/master, operator: Exists, effect: NoSchedule}
- {key: CriticalAddonsOnly, operator: Exists}
containers:
- name: $comp
  image: $IMAGE_CP
  imagePullPolicy: IfNotPresent
  command:
  - $comp
$($args)
  volumeMounts:
  - {name: secrets, mountPath: /etc/kubernetes/secrets, readOnly: true}
volumes:
- name: secrets
$vol
EOF
}

cmd_render() {
  local dir=${1:?DIR} out=${2:?OUT} node=${3:-1}
  load "$dir" "$node"
  local secrets_dir=$NETC/bootstrap-secrets
  rm -rf "$out"
  mkdir -p "$out/auth" "$out/tls" "$out/bootstrap-manifests" "$out/manifests"
  chmod 0700 "$out/tls"
  cp "$KUBECONFIG" "$out/auth/kubeconfig"
  chmod 0600 "$out/auth/kubeconfig"
  local f
  for f in "${SECRET_FILES[@]}"; do install -m 0600 "$PKI/$f" "$out/tls/$f"; done
  kubeconfig "$out" controller-manager >"$out/tls/controller-manager.kubeconfig"
  kubeconfig "$out" scheduler >"$out/tls/scheduler.kubeconfig"
  chmod 0600 "$out/tls/"*.kubeconfig

  local c args
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    case $c in
      kube-apiserver) args=apiserver_args ;;
      kube-controller-manager) args=controller_manager_args ;;
      kube-scheduler) args=scheduler_args ;;
    esac
    {
      cat <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: bootstrap-$c
  namespace: kube-system
  labels: {k8s-app: bootstrap-$c, tier: control-plane}
spec:
EOF
      pod_spec "  " "$c" "$args" "  hostPath: {path: $secrets_dir, type: Directory}"
    } >"$out/bootstrap-manifests/bootstrap-$c.yaml"
  done

  # The Secret of the self-hosted control plane.
  {
    cat <<EOF
apiVersion: v1
kind: Secret
metadata:
  name: kube-control-plane
  namespace: kube-system
type: Opaque
data:
EOF
    for f in "${SECRET_FILES[@]}" controller-manager.kubeconfig scheduler.kubeconfig; do
      [[ -f $out/tls/$f ]] && echo "  $f: $(b64 "$out/tls/$f")"
    done
  } >"$out/manifests/00-kube-control-plane-secret.yaml"

  {
    cat <<EOF
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: kube-apiserver
  namespace: kube-system
  labels: {k8s-app: kube-apiserver, tier: control-plane}
spec:
  selector:
    matchLabels: {k8s-app: kube-apiserver}
  updateStrategy:
    type: RollingUpdate
    rollingUpdate: {maxUnavailable: 1}
  template:
    metadata:
      labels: {k8s-app: kube-apiserver, tier: control-plane}
      annotations:
        checkpointer.alpha.coreos.com/checkpoint: "true"
    spec:
      nodeSelector:
        node.kubernetes.io/control-plane: ""
EOF
    pod_spec "      " kube-apiserver apiserver_args "  secret: {secretName: kube-control-plane}"
  } >"$out/manifests/10-kube-apiserver.yaml"

  for c in kube-controller-manager kube-scheduler; do
    case $c in
      kube-controller-manager) args=controller_manager_args ;;
      kube-scheduler) args=scheduler_args ;;
    esac
    {
      cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: $c
  namespace: kube-system
  labels: {k8s-app: $c, tier: control-plane}
spec:
  replicas: 1
  selector:
    matchLabels: {k8s-app: $c}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxUnavailable: 1, maxSurge: 0}
  template:
    metadata:
      labels: {k8s-app: $c, tier: control-plane}
    spec:
      nodeSelector:
        node.kubernetes.io/control-plane: ""
EOF
      pod_spec "      " "$c" "$args" "  secret: {secretName: kube-control-plane}"
    } >"$out/manifests/20-$c.yaml"
  done
  echo "$out"
}

cmd_checkpointer() {
  local dir=${1:?DIR} image=${2:?IMAGE} node=${3:-1}
  load "$dir" "$node"
  local metrics lock
  # A port of this test bed's own for the checkpointer's metrics (host network).
  metrics=$(comm -23 <(seq 20000 32000 | shuf -n 200 | sort) <(ss -Htan | awk '{print $4}' | sed -E 's/.*:([0-9]+)$/\1/' | sort -u) | head -n1)
  lock=$NETC/lock
  mkdir -p "$lock"
  cat "$HERE/../deploy/pod-checkpointer-rbac.yaml"
  echo "---"
  # Line-wise edits of deploy/pod-checkpointer.yaml; every one must apply (checked below).
  local src=$HERE/../deploy/pod-checkpointer.yaml out
  out=$(sed -e "s#server: https://kubernetes.default.svc#server: https://127.0.0.1:$APISERVER_PORT#" \
    -e "s#image: ghcr.io/lifeboat/lifeboat:.*#image: $image#" \
    -e "s#unix:///run/containerd/containerd.sock#unix://$NSOCK#" \
    -e "s#path: /run/containerd/containerd.sock#path: $NSOCK#" \
    -e "s#mountPath: /run/containerd/containerd.sock#mountPath: $NSOCK#" \
    -e "s#--metrics-address=127.0.0.1:9780#--metrics-address=127.0.0.1:$metrics#" \
    -e "s#port: 9780#port: $metrics#" \
    -e "s#path: /var/run/lock\$#path: $lock#" \
    -e "s#path: /etc/kubernetes\$#path: $NETC#" \
    -e "s#path: /var/lib/kubelet#path: $NROOT#" \
    -e "s#mountPath: /etc/kubernetes\$#mountPath: $NETC#" \
    -e "s#^\( *\)node-role.kubernetes.io/control-plane: \"\"#\1node.kubernetes.io/control-plane: \"\"#" \
    -e "s#^\(\( *\)- --lock-file=.*\)#\1\n\2- --pod-manifest-path=$NMANIFESTS\n\2- --inactive-manifest-dir=$NETC/inactive-manifests\n\2- --checkpoint-secrets-dir=$NETC/checkpoint-secrets\n\2- --checkpoint-configmaps-dir=$NETC/checkpoint-configmaps\n\2- --kubelet-port=$NPORT\n\2- --kubelet-read-only-port=$NRO#" \
    "$src")
  local want
  for want in "127.0.0.1:$APISERVER_PORT" "image: $image" "unix://$NSOCK" "path: $NSOCK" "127.0.0.1:$metrics" \
    "path: $lock" "path: $NETC" "mountPath: $NETC" "--pod-manifest-path=$NMANIFESTS" "--kubelet-port=$NPORT" \
    "node.kubernetes.io/control-plane: \"\""; do
    grep -qF -- "$want" <<<"$out" || die "deploy/pod-checkpointer.yaml changed: could not set $want"
  done
  echo "$out"
}

sub=${1:-}
[[ -n $sub ]] || usage
shift
case $sub in
  render) cmd_render "$@" ;;
  checkpointer) cmd_checkpointer "$@" ;;
  *) usage ;;
esac
