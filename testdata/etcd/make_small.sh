#!/bin/bash
# Regenerates small.snapshot.db (from `etcdctl snapshot save`, with its SHA-256 trailer) and
# small.raw.db (a stopped member's member/snap/db) with Debian's etcd. The content is what
# src/etcd/snapshot_test.cc expects; change both together.
set -euo pipefail
out=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 30000))
peer=$((port + 1))
etcd --name small --data-dir "$work/data" \
  --listen-client-urls "http://127.0.0.1:$port" --advertise-client-urls "http://127.0.0.1:$port" \
  --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
  --initial-cluster "small=http://127.0.0.1:$peer" --max-txn-ops 1000 --logger zap --log-outputs "$work/etcd.log" &
pid=$!
export ETCDCTL_API=3
ctl() { etcdctl --endpoints "http://127.0.0.1:$port" "$@"; }
for _ in $(seq 100); do ctl endpoint health >/dev/null 2>&1 && break; sleep 0.1; done

cm=/registry/configmaps/kube-system
ctl put "$cm/a" v1 >/dev/null
ctl put "$cm/a" v2 >/dev/null          # overwritten: v2, version 2
ctl put "$cm/b" bee >/dev/null
ctl put "$cm/c" sea >/dev/null
ctl del "$cm/c" >/dev/null             # deleted: absent
ctl put /registry/configmaps/kube-systemx/d boundary >/dev/null
ctl put /registry/pods/ns/p one >/dev/null
ctl del /registry/pods/ns/p >/dev/null
ctl put /registry/pods/ns/p two >/dev/null   # re-created: two, version 1
head -c 10000 /dev/zero | tr '\0' x | ctl put /registry/secrets/kube-system/big >/dev/null  # overflow pages
# 300 keys in one transaction (one main revision, sub revisions 0..299): several leaf pages.
{ echo; for i in $(seq -w 0 299); do echo "put /registry/events/ns/e-$i event-$i"; done; echo; echo; } |
  ctl txn >/dev/null
ctl del /registry/events/ns/e-150 >/dev/null

ctl snapshot save "$work/snap.db" >/dev/null 2>&1
cp "$work/snap.db" "$out/small.snapshot.db"
kill "$pid"; wait "$pid" || true
cp "$work/data/member/snap/db" "$out/small.raw.db"

