#!/usr/bin/env python3
"""Regenerates the etcd values in testdata/storage/versions/ with protoc, not with Lifeboat.

Usage: testdata/storage/versions/encode.py [K8S_API_TREE]

K8S_API_TREE is the upstream sources laid out as staging/src/k8s.io/{api,apimachinery}
(default: ../shared/reference/k8s-api-v0.36.3 next to the repository). For every
<version>/<name>.textproto (header lines `# message:`, `# apiVersion:`, `# kind:`):
  1. `protoc --encode=<message>` with the upstream generated.proto files encodes the object;
  2. if <name>.legacy.textproto exists, it is encoded against legacy.proto (fields the v1.36
     sources no longer declare) and appended (protobuf merges singular message fields);
  3. the bytes are wrapped as kube-apiserver stores them: `k8s\\0` + runtime.Unknown
     {typeMeta {apiVersion, kind}, raw, contentEncoding "", contentType ""}, itself encoded
     by protoc from the upstream runtime/generated.proto;
and written to <version>/<name>.value. <name>.want.json is written by hand from the upstream Go
types (json tags, omitempty, pointers); src/storage/versions_test.cc compares.
"""

import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def protoc_encode(message, includes, proto, text):
    args = ["protoc", f"--encode={message}"] + [f"-I{i}" for i in includes] + [proto]
    result = subprocess.run(args, input=text.encode(), capture_output=True)
    if result.returncode != 0:
        raise SystemExit(f"protoc --encode={message} failed:\n{result.stderr.decode()}")
    return result.stdout


def header(text, name):
    m = re.search(rf"^# {name}: (\S+)$", text, re.M)
    if not m:
        raise SystemExit(f"missing `# {name}:` header")
    return m.group(1)


def escape(data):
    return "".join(f"\\{b:03o}" for b in data)


def main():
    tree = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        HERE, "../../../../shared/reference/k8s-api-v0.36.3")
    staging = os.path.join(tree, "staging/src")
    if not os.path.isdir(staging):
        raise SystemExit(f"no upstream sources at {staging}")
    for version in sorted(os.listdir(HERE)):
        vdir = os.path.join(HERE, version)
        if not os.path.isdir(vdir):
            continue
        for name in sorted(os.listdir(vdir)):
            if not name.endswith(".textproto") or name.endswith(".legacy.textproto"):
                continue
            base = name[: -len(".textproto")]
            with open(os.path.join(vdir, name)) as f:
                text = f.read()
            message = header(text, "message")
            package = message.rsplit(".", 1)[0]
            proto = "k8s.io/" + package[len("k8s.io."):].replace(".", "/")
            raw = protoc_encode(message, [staging], f"{proto}/generated.proto", text)
            legacy = os.path.join(vdir, base + ".legacy.textproto")
            if os.path.exists(legacy):
                with open(legacy) as f:
                    raw += protoc_encode(f"lifeboat.testdata.legacy.{message.rsplit('.', 1)[1]}",
                                         [HERE], "legacy.proto", f.read())
            envelope = (f'typeMeta {{ apiVersion: "{header(text, "apiVersion")}" '
                        f'kind: "{header(text, "kind")}" }} raw: "{escape(raw)}" '
                        'contentEncoding: "" contentType: ""')
            value = b"k8s\0" + protoc_encode("k8s.io.apimachinery.pkg.runtime.Unknown", [staging],
                                             "k8s.io/apimachinery/pkg/runtime/generated.proto",
                                             envelope)
            with open(os.path.join(vdir, base + ".value"), "wb") as f:
                f.write(value)
            print(f"{version}/{base}.value: {len(value)} bytes")


if __name__ == "__main__":
    main()
