#!/usr/bin/env python3
"""Writes one golden file per stored object: its etcd value and the API server's JSON for it.

Usage: capture_pairs.py <testbed env file> <output dir>

For each key under <prefix>/{pods,secrets,configmaps,daemonsets,deployments}/ the value is read
with etcdctl and the object with `kubectl get --raw` (exactly what GET serves). A pair is kept
only when the object's resourceVersion equals the value's mod_revision, so both sides are the
same revision; otherwise both are read again.
Output: <dir>/<resource>/<namespace>.<name>.json =
  {"etcdKey", "modRevision", "etcdValue" (base64), "apiPath", "api" (the served JSON)}.
"""

import base64
import json
import os
import subprocess
import sys
import time

RESOURCES = {
    "pods": "/api/v1/namespaces/{ns}/pods/{name}",
    "secrets": "/api/v1/namespaces/{ns}/secrets/{name}",
    "configmaps": "/api/v1/namespaces/{ns}/configmaps/{name}",
    "daemonsets": "/apis/apps/v1/namespaces/{ns}/daemonsets/{name}",
    "deployments": "/apis/apps/v1/namespaces/{ns}/deployments/{name}",
}


def load_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k] = v
    return env


def main():
    env = load_env(sys.argv[1])
    out = sys.argv[2]
    prefix = env.get("ETCD_PREFIX") or "/registry"
    etcdctl = ["etcdctl", "--endpoints=" + env["ETCD_ENDPOINTS"], "--cacert=" + env["ETCD_CA"],
               "--cert=" + env["ETCD_CERT"], "--key=" + env["ETCD_KEY"]]
    proc_env = dict(os.environ, ETCDCTL_API="3", KUBECONFIG=env["KUBECONFIG"])
    kubectl = env["KUBECTL"]

    def run(cmd):
        return subprocess.run(cmd, check=True, capture_output=True, env=proc_env).stdout

    count = 0
    for resource, path_template in RESOURCES.items():
        listing = json.loads(run(etcdctl + ["get", "--prefix", "--keys-only", "-w", "json",
                                            f"{prefix}/{resource}/"]))
        keys = [base64.b64decode(kv["key"]).decode() for kv in listing.get("kvs", [])]
        os.makedirs(os.path.join(out, resource), exist_ok=True)
        for key in keys:
            ns, name = key[len(prefix) + len(resource) + 2:].split("/", 1)
            api_path = path_template.format(ns=ns, name=name)
            for attempt in range(10):
                api = json.loads(run([kubectl, "get", "--raw", api_path]))
                kv = json.loads(run(etcdctl + ["get", "-w", "json", key]))["kvs"][0]
                if str(kv["mod_revision"]) == api["metadata"]["resourceVersion"]:
                    break
                time.sleep(1)
            else:
                raise SystemExit(f"{key}: the object keeps changing; giving up")
            golden = {
                "etcdKey": key,
                "modRevision": kv["mod_revision"],
                "etcdValue": kv["value"],
                "apiPath": api_path,
                "api": api,
            }
            with open(os.path.join(out, resource, f"{ns}.{name}.json"), "w") as f:
                json.dump(golden, f, indent=1, sort_keys=True, ensure_ascii=False)
                f.write("\n")
            count += 1
    print(f"captured {count} objects into {out}")


if __name__ == "__main__":
    main()
