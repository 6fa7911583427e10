#!/usr/bin/env bash
# Builds the container images a real test bed node runs, with no registry and no container
# builder: OCI image layouts (one uncompressed layer each) written as tarballs that
# `ctr -n k8s.io images import` takes, cached by content outside the repo:
#   ${LIFEBOAT_CACHE:-$HOME/.cache/lifeboat}/testbed/images/<name>-<hash>.tar
#
#   images.sh pause                      # lifeboat.test/pause:1 (busybox-static sleeping)
#   images.sh control-plane BIN_DIR      # lifeboat.test/kube-control-plane:v1.20.2
#   images.sh checkpointer CHECKPOINTER  # lifeboat.test/lifeboat:dev (deploy/Containerfile's layout)
#
# Prints the tarball's path (the only line on stdout). The hash covers this script and every file
# that goes into the image, so a rebuilt binary makes a new image.
#
# The images:
# - pause: /bin/busybox (Debian's busybox-static, with a link per applet) and an entrypoint that
#   sleeps until SIGTERM (and exits, never spins, should its sleep end).
# - kube-control-plane: busybox plus kube-apiserver, kube-controller-manager and kube-scheduler
#   (static Go binaries) in /usr/local/bin, so manifests run them by name.
# - lifeboat: as deploy/Containerfile lays it out: /lifeboat-checkpointer and /checkpoint (a link to
#   it), plus exactly the shared libraries `ldd` says it needs at their paths, and busybox.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${LIFEBOAT_CACHE:-$HOME/.cache/lifeboat}/testbed/images
BUSYBOX=${BUSYBOX:-/bin/busybox}

say() { echo "==> images: $*" >&2; }
die() { echo "==> images: ERROR: $*" >&2; exit 1; }
usage() { sed -n '7,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }

# A JSON string array from the arguments.
json_array() {
  local first=1 a
  printf '['
  for a in "$@"; do
    ((first)) || printf ','
    first=0
    printf '"%s"' "$(printf '%s' "$a" | sed 's/\\/\\\\/g; s/"/\\"/g')"
  done
  printf ']'
}

# build_image REF OUT ROOTFS ENTRYPOINT...: an OCI layout of ROOTFS as one layer, tarred to OUT.
build_image() {
  local ref=$1 out=$2 rootfs=$3
  shift 3
  local lay
  lay=$(mktemp -d "$CACHE/.layout.XXXXXX")
  mkdir -p "$lay/blobs/sha256"
  # A reproducible layer: fixed owner, times and order.
  tar --numeric-owner --owner=0 --group=0 --mtime=@0 --sort=name -C "$rootfs" -cf "$lay/layer.tar" .
  local ldig lsize
  ldig=$(sha "$lay/layer.tar")
  lsize=$(size "$lay/layer.tar")
  mv "$lay/layer.tar" "$lay/blobs/sha256/$ldig"
  printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"],"Entrypoint":%s},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$(json_array "$@")" "$ldig" >"$lay/config.json"
  local cdig csize
  cdig=$(sha "$lay/config.json")
  csize=$(size "$lay/config.json")
  mv "$lay/config.json" "$lay/blobs/sha256/$cdig"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$cdig" "$csize" "$ldig" "$lsize" >"$lay/manifest.json"
  local mdig msize
  mdig=$(sha "$lay/manifest.json")
  msize=$(size "$lay/manifest.json")
  mv "$lay/manifest.json" "$lay/blobs/sha256/$mdig"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$mdig" "$msize" "$ref" "${ref##*:}" >"$lay/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$lay/oci-layout"
  tar --numeric-owner --owner=0 --group=0 --mtime=@0 -C "$lay" -cf "$out.tmp" oci-layout index.json blobs
  mv -f "$out.tmp" "$out"
  rm -rf "$lay"
}

# cached NAME FILE...: the tarball path for NAME keyed by this script and FILE's contents.
cached() {
  local name=$1
  shift
  local h
  h=$({ sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1; for f in "$@"; do sha256sum "$f" | cut -d' ' -f1; done; } |
    sha256sum | cut -c1-16)
  echo "$CACHE/$name-$h.tar"
}

add_busybox() { # add_busybox ROOTFS: /bin/busybox and a link for each of its applets (sh, sleep, ...)
  mkdir -p "$1/bin" "$1/tmp" "$1/etc"
  chmod 1777 "$1/tmp"
  install -m 0755 "$BUSYBOX" "$1/bin/busybox"
  local a
  for a in $("$BUSYBOX" --list); do
    [[ $a == busybox || $a == */* ]] || ln -s busybox "$1/bin/$a"
  done
  echo "root:x:0:0:root:/:/bin/sh" >"$1/etc/passwd"
  echo "nobody:x:65534:65534:nobody:/:/bin/sh" >>"$1/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$1/etc/group"
}

kind=${1:-}
[[ -n $kind ]] || usage
[[ -x $BUSYBOX ]] || die "$BUSYBOX not found: apt-get install busybox-static (scripts/install-deps.sh --testbed)"
file "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' || die "$BUSYBOX is not static (busybox-static wanted)"
mkdir -p "$CACHE"

case $kind in
  pause)
    out=$(cached pause "$BUSYBOX")
    if [[ ! -f $out ]]; then
      root=$(mktemp -d "$CACHE/.root.XXXXXX")
      add_busybox "$root"
      # PID 1 of the sandbox: sleeps until SIGTERM/SIGINT, as the pause container does.
      build_image lifeboat.test/pause:1 "$out" "$root" /bin/sh -c \
        'trap "exit 0" TERM INT; sleep 2147483647 & wait'
      rm -rf "$root"
    fi
    ;;
  control-plane)
    bin=${2:?control-plane BIN_DIR}
    files=("$BUSYBOX" "$bin/kube-apiserver" "$bin/kube-controller-manager" "$bin/kube-scheduler")
    for f in "${files[@]}"; do [[ -x $f ]] || die "$f not found (testbed/build.sh builds it)"; done
    out=$(cached kube-control-plane "${files[@]}")
    if [[ ! -f $out ]]; then
      say "building the control-plane image (kube-apiserver, kube-controller-manager, kube-scheduler)"
      root=$(mktemp -d "$CACHE/.root.XXXXXX")
      add_busybox "$root"
      mkdir -p "$root/usr/local/bin"
      for b in kube-apiserver kube-controller-manager kube-scheduler; do install -m 0755 "$bin/$b" "$root/usr/local/bin/$b"; done
      build_image lifeboat.test/kube-control-plane:v1.20.2 "$out" "$root" /bin/sh
      rm -rf "$root"
    fi
    ;;
  checkpointer)
    ckpt=${2:?checkpointer PATH}
    [[ -x $ckpt ]] || die "$ckpt not found (cmake --build build --target lifeboat-checkpointer)"
    # Whatever the binary links, at the paths the loader looks for it.
    mapfile -t libs < <(ldd "$ckpt" | awk '/=> \//{print $3} /^[[:space:]]*\/[^ ]*ld-linux/{print $1}' | sort -u)
    ((${#libs[@]})) || die "ldd lists no libraries for $ckpt"
    out=$(cached lifeboat "$BUSYBOX" "$ckpt" "${libs[@]}")
    if [[ ! -f $out ]]; then
      say "building the checkpointer image from $ckpt (libraries: ${libs[*]})"
      root=$(mktemp -d "$CACHE/.root.XXXXXX")
      add_busybox "$root"
      install -m 0755 "$ckpt" "$root/lifeboat-checkpointer"
      strip "$root/lifeboat-checkpointer" 2>/dev/null || true # as deploy/Containerfile does
      ln -s /lifeboat-checkpointer "$root/checkpoint"
      for l in "${libs[@]}"; do
        mkdir -p "$root$(dirname "$l")"
        cp -L "$l" "$root$l"
      done
      # /lib64 -> usr/lib64 etc. are links on Debian: keep the paths ldd printed working as such.
      build_image lifeboat.test/lifeboat:dev "$out" "$root" /lifeboat-checkpointer
      rm -rf "$root"
    fi
    ;;
  *) usage ;;
esac
echo "$out"
