#!/usr/bin/env bash
# Builds the test bed's Kubernetes binaries (kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl, all v1.20.2) from Debian's `kubernetes` source package, plus our hollow node
# (testbed/hollow-node/main.go) and the real node's kubelet (testbed/kubelet/main.go: cmd/kubelet
# allowed a loopback node IP), and caches them outside the repo:
#   ${LIFEBOAT_CACHE:-$HOME/.cache/lifeboat}/testbed/v1.20.2/bin/
# Idempotent: when every binary is there (and the hollow node matches its source) it prints the
# bin dir and exits at once. The only line on stdout is that path; progress goes to stderr.
set -euo pipefail

VERSION=v1.20.2
DEB_UPSTREAM=1.20.5+really1.20.2 # upstream part of Debian's version of the source package
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${LIFEBOAT_CACHE:-$HOME/.cache/lifeboat}/testbed/$VERSION
BIN=$CACHE/bin
LOGS=$CACHE/logs
K8S_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
HOLLOW=lifeboat-hollow-node
KUBELET=lifeboat-kubelet
PATCHES=("$HERE"/patches/*.patch)

say() { echo "==> testbed: $*" >&2; }
die() { echo "==> testbed: ERROR: $*" >&2; exit 1; }

hollow_stamp() { cat "$HERE/hollow-node/main.go" "${PATCHES[@]}" | sha256sum | cut -d' ' -f1; }
k8s_stamp() { cat "${PATCHES[@]}" | sha256sum | cut -d' ' -f1; }
# The kubelet has a stamp of its own, so that adding it did not invalidate the other binaries.
kubelet_stamp() { cat "$HERE/kubelet/main.go" "${PATCHES[@]}" | sha256sum | cut -d' ' -f1; }

k8s_ok() {
  local b
  for b in "${K8S_BINARIES[@]}"; do [[ -x $BIN/$b ]] || return 1; done
  [[ "$(cat "$BIN/.k8s.stamp" 2>/dev/null)" == "$(k8s_stamp)" ]]
}
hollow_ok() {
  [[ -x $BIN/$HOLLOW && "$(cat "$BIN/.$HOLLOW.stamp" 2>/dev/null)" == "$(hollow_stamp)" ]]
}
kubelet_ok() {
  [[ -x $BIN/$KUBELET && "$(cat "$BIN/.$KUBELET.stamp" 2>/dev/null)" == "$(kubelet_stamp)" ]]
}
all_ok() { k8s_ok && hollow_ok && kubelet_ok; }

if all_ok; then echo "$BIN"; exit 0; fi

mkdir -p "$CACHE" "$BIN" "$LOGS"
exec 9>"$CACHE/build.lock"
if ! flock -n 9; then
  say "another build holds $CACHE/build.lock; waiting"
  flock 9
fi
# The other build may have done the work.
if all_ok; then echo "$BIN"; exit 0; fi

for tool in go make rsync jq patch dpkg-source; do
  command -v "$tool" >/dev/null || die "$tool not found; run scripts/install-deps.sh --testbed"
done

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

# --- 1. Source: Debian's kubernetes source package --------------------------------------------
SRC_PARENT=$CACHE/src
TREE=$SRC_PARENT/kubernetes-$DEB_UPSTREAM
if [[ ! -f $TREE/.lifeboat-unpacked ]]; then
  uris=$(apt-get source --print-uris -qq kubernetes 2>/dev/null || true)
  if [[ $uris != *.dsc* ]]; then
    # No usable deb-src entry: add one for bookworm main, on the mirror the binary packages use.
    if ! grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      mirror=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null |
        grep -v -- '-security' | head -n1 || true)
      mirror=${mirror:-http://deb.debian.org/debian}
      say "adding a deb-src entry for bookworm main ($mirror)"
      printf 'Types: deb-src\nURIs: %s\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$mirror" | as_root tee /etc/apt/sources.list.d/lifeboat-deb-src.sources >/dev/null
    fi
    say "apt-get update"
    as_root apt-get update -qq >"$LOGS/apt-update.log" 2>&1 || {
      tail -n 20 "$LOGS/apt-update.log" >&2
      die "apt-get update failed"
    }
  fi
  say "fetching Debian's kubernetes source package (~34 MB)"
  rm -rf "$TREE"
  mkdir -p "$SRC_PARENT"
  (cd "$SRC_PARENT" && apt-get source -q kubernetes) >"$LOGS/apt-source.log" 2>&1 || {
    tail -n 20 "$LOGS/apt-source.log" >&2
    die "apt-get source kubernetes failed (log: $LOGS/apt-source.log)"
  }
  [[ -d $TREE ]] || die "expected $TREE after apt-get source; got: $(ls "$SRC_PARENT" | tr '\n' ' ')"
  touch "$TREE/.lifeboat-unpacked"
fi

# --- 2. Patches (reflect2 vs Go >= 1.18) ----------------------------------------------------------
for p in "${PATCHES[@]}"; do
  stamp=$TREE/.lifeboat-patched-$(basename "$p")
  [[ -f $stamp ]] && continue
  say "applying $(basename "$p")"
  if patch -d "$TREE" -p1 -R --dry-run -s -f <"$p" >/dev/null 2>&1; then
    : # already applied
  else
    patch -d "$TREE" -p1 -s -f <"$p" || die "patch $(basename "$p") does not apply to $TREE"
  fi
  touch "$stamp"
done

# --- 3. Build in GOPATH mode with the tree's own make ----------------------------------------------
export GOPATH=$CACHE/gopath
# The tree's make keeps its Go build cache in _output/local/go/cache, i.e. under $CACHE too.
export HOME=$CACHE/home
export GO111MODULE=off
export GOPROXY=off
export GOFLAGS=
export CGO_ENABLED=0
mkdir -p "$GOPATH/src/k8s.io" "$HOME"
ln -sfn "$TREE" "$GOPATH/src/k8s.io/kubernetes"
WORK=$GOPATH/src/k8s.io/kubernetes
OUT=$TREE/_output/local/bin/linux/amd64

build() { # build LOGNAME "description" "first-time estimate" cmd/... ...
  local log=$LOGS/$1.log what desc=$2 hint=$3
  shift 3
  what="$*"
  say "building $desc (first time takes ~$hint)"
  local t0=$SECONDS
  if ! (cd "$WORK" && make WHAT="$what") >"$log" 2>&1; then
    echo "---- last lines of $log ----" >&2
    tail -n 40 "$log" >&2
    die "build of $desc failed (log: $log)"
  fi
  say "built $desc in $((SECONDS - t0)) s"
}

if ! k8s_ok; then
  # A changed patch means every binary must be rebuilt.
  rm -f "$BIN/.k8s.stamp" "$BIN/.$HOLLOW.stamp" "$BIN/.$KUBELET.stamp"
  build kube-apiserver kube-apiserver "5-10 min" cmd/kube-apiserver
  build controllers "kube-controller-manager and kube-scheduler" "2-5 min" \
    cmd/kube-controller-manager cmd/kube-scheduler
  build kubectl kubectl "1-2 min" cmd/kubectl
  for b in "${K8S_BINARIES[@]}"; do install -m 0755 "$OUT/$b" "$BIN/$b.tmp" && mv -f "$BIN/$b.tmp" "$BIN/$b"; done
  k8s_stamp >"$BIN/.k8s.stamp"
fi

if ! hollow_ok; then
  mkdir -p "$TREE/cmd/$HOLLOW"
  cp "$HERE/hollow-node/main.go" "$TREE/cmd/$HOLLOW/main.go"
  build hollow-node "the hollow node" "2-3 min" "cmd/$HOLLOW"
  install -m 0755 "$OUT/$HOLLOW" "$BIN/$HOLLOW.tmp" && mv -f "$BIN/$HOLLOW.tmp" "$BIN/$HOLLOW"
  hollow_stamp >"$BIN/.$HOLLOW.stamp"
fi

if ! kubelet_ok; then
  mkdir -p "$TREE/cmd/$KUBELET"
  cp "$HERE/kubelet/main.go" "$TREE/cmd/$KUBELET/main.go"
  build kubelet "the kubelet" "3-5 min" "cmd/$KUBELET"
  install -m 0755 "$OUT/$KUBELET" "$BIN/$KUBELET.tmp" && mv -f "$BIN/$KUBELET.tmp" "$BIN/$KUBELET"
  kubelet_stamp >"$BIN/.$KUBELET.stamp"
fi

say "binaries in $BIN"
echo "$BIN"
