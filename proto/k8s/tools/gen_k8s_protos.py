#!/usr/bin/env python3
"""Writes Lifeboat's storage schemas (proto/k8s/*.proto) from a Kubernetes source tree.

Usage: gen_k8s_protos.py <kubernetes-source-tree> <output-dir>

The schemas describe the objects kube-apiserver stores in etcd. For each message reachable from
the roots below, two facts are joined by protobuf field number:
  * the wire shape (scalar type, repeated, map, message type), from the tree's generated.proto;
  * how Go's encoding/json renders the field, from the `json:` and `protobuf:` struct tags and
    the Go type in the package's types.go (JSON key, omitempty, pointer, inline embedding).
The result is plain proto2 with Lifeboat's options (options/json_options.proto) on every field.
Nothing else is carried over: no comments, no gogo options. The generated files are committed;
rerun this only to extend the set of types (add a root) or to move to another Kubernetes version.
"""

import os
import re
import sys

# proto package -> (directory under staging/src/k8s.io, output file)
PACKAGES = {
    "k8s.io.apimachinery.pkg.apis.meta.v1": ("apimachinery/pkg/apis/meta/v1", "meta_v1.proto"),
    "k8s.io.apimachinery.pkg.runtime": ("apimachinery/pkg/runtime", "runtime.proto"),
    "k8s.io.apimachinery.pkg.api.resource": ("apimachinery/pkg/api/resource", "resource.proto"),
    "k8s.io.apimachinery.pkg.util.intstr": ("apimachinery/pkg/util/intstr", "intstr.proto"),
    "k8s.io.api.core.v1": ("api/core/v1", "core_v1.proto"),
    "k8s.io.api.apps.v1": ("api/apps/v1", "apps_v1.proto"),
    "k8s.io.api.apps.v1beta1": ("api/apps/v1beta1", "apps_v1beta1.proto"),
    "k8s.io.api.apps.v1beta2": ("api/apps/v1beta2", "apps_v1beta2.proto"),
    "k8s.io.api.extensions.v1beta1": ("api/extensions/v1beta1", "extensions_v1beta1.proto"),
}

# Top-level objects Lifeboat decodes (apiVersion/kind come from the storage envelope).
ROOTS = [
    "k8s.io.api.core.v1.Pod",
    "k8s.io.api.core.v1.Secret",
    "k8s.io.api.core.v1.ConfigMap",
    "k8s.io.api.apps.v1.DaemonSet",
    "k8s.io.api.apps.v1.Deployment",
    "k8s.io.api.apps.v1beta2.DaemonSet",
    "k8s.io.api.apps.v1beta2.Deployment",
    "k8s.io.api.apps.v1beta1.Deployment",
    "k8s.io.api.extensions.v1beta1.DaemonSet",
    "k8s.io.api.extensions.v1beta1.Deployment",
]

# Messages with their own JSON form (options/json_options.proto, enum Special).
SPECIAL = {
    "k8s.io.apimachinery.pkg.apis.meta.v1.Time": "TIME",
    "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime": "MICRO_TIME",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Duration": "DURATION",
    "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1": "FIELDS_V1",
    "k8s.io.apimachinery.pkg.api.resource.Quantity": "QUANTITY",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "INT_OR_STRING",
    "k8s.io.apimachinery.pkg.runtime.RawExtension": "RAW_EXTENSION",
}

SCALARS = {"string", "bytes", "bool", "int32", "int64", "uint32", "uint64", "sint32", "sint64",
           "fixed32", "fixed64", "sfixed32", "sfixed64", "double", "float"}

FIELD_RE = re.compile(r"^(optional|repeated|required)\s+([\w.]+)\s+(\w+)\s*=\s*(\d+)\s*;")
MAP_RE = re.compile(r"^map<\s*([\w.]+)\s*,\s*([\w.]+)\s*>\s+(\w+)\s*=\s*(\d+)\s*;")


def parse_proto(path):
    """Returns {message name: [field dict]} from a generated.proto (top-level messages only)."""
    messages = {}
    current = None
    depth = 0
    with open(path) as f:
        for raw in f:
            line = raw.split("//", 1)[0].strip()
            if not line:
                continue
            m = re.match(r"^message\s+(\w+)\s*\{", line)
            if m and depth == 0:
                current = m.group(1)
                messages[current] = []
                depth = 1
                continue
            if current is None:
                continue
            if line.startswith("message ") or line.startswith("enum "):
                raise SystemExit(f"{path}: nested declarations are not supported: {line}")
            if line == "}":
                depth -= 1
                if depth == 0:
                    current = None
                continue
            m = FIELD_RE.match(line)
            if m:
                messages[current].append({"label": m.group(1), "type": m.group(2),
                                          "name": m.group(3), "number": int(m.group(4))})
                continue
            m = MAP_RE.match(line)
            if m:
                messages[current].append({"label": "map", "key": m.group(1), "type": m.group(2),
                                          "name": m.group(3), "number": int(m.group(4))})
                continue
            if line.startswith("option ") or line.startswith("reserved "):
                continue
            raise SystemExit(f"{path}: cannot parse: {line}")
    return messages


def parse_go_structs(directory):
    """Returns {struct name: {field number: go field dict}} for the package's Go structs."""
    structs = {}
    for name in sorted(os.listdir(directory)):
        if (not name.endswith(".go") or name.endswith("_test.go") or name.startswith("zz_")
                or name in ("generated.pb.go", "types_swagger_doc_generated.go")):
            continue
        with open(os.path.join(directory, name)) as f:
            lines = f.read().split("\n")
        i = 0
        while i < len(lines):
            m = re.match(r"^type\s+(\w+)\s+struct\s*\{\s*$", lines[i])
            i += 1
            if not m:
                continue
            fields = {}
            while i < len(lines) and lines[i] != "}":
                line = lines[i].strip()
                i += 1
                if not line or line.startswith("//"):
                    continue
                tm = re.match(r"^([^`]*?)\s*`([^`]*)`", line)
                if not tm:
                    continue
                decl = tm.group(1).split()
                tags = tm.group(2)
                pm = re.search(r'protobuf:"([^"]*)"', tags)
                if not pm or pm.group(1) == "-":
                    continue
                number = int(pm.group(1).split(",")[1])
                jm = re.search(r'json:"([^"]*)"', tags)
                json_parts = jm.group(1).split(",") if jm else [""]
                if len(decl) == 1:
                    go_name, go_type, embedded = decl[0].lstrip("*").split(".")[-1], decl[0], True
                elif len(decl) == 2:
                    go_name, go_type, embedded = decl[0], decl[1], False
                else:
                    raise SystemExit(f"{directory}/{name}: cannot parse field: {line}")
                json_name = json_parts[0]
                if json_name == "-":
                    continue  # not serialized to JSON (only special types do this)
                inline = "inline" in json_parts[1:] or (embedded and json_name == "")
                fields[number] = {
                    "go_name": go_name,
                    "json": "" if inline else (json_name or go_name),
                    "omitempty": "omitempty" in json_parts[1:],
                    "pointer": go_type.startswith("*"),
                    "inline": inline,
                }
            structs[m.group(1)] = fields
    return structs


def resolve(type_name, package):
    """Full name of a message type referenced from `package`, or None for scalars."""
    if type_name in SCALARS:
        return None
    if "." in type_name:
        return type_name.lstrip(".")
    return f"{package}.{type_name}"


def split_full(full):
    package, _, name = full.rpartition(".")
    return package, name


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    tree, out_dir = sys.argv[1], sys.argv[2]
    staging = os.path.join(tree, "staging/src/k8s.io")
    protos, gos = {}, {}
    for package, (directory, _) in PACKAGES.items():
        protos[package] = parse_proto(os.path.join(staging, directory, "generated.proto"))
        gos[package] = parse_go_structs(os.path.join(staging, directory))

    # Closure of message types reachable from the roots.
    needed, queue = set(), list(ROOTS)
    while queue:
        full = queue.pop()
        if full in needed:
            continue
        needed.add(full)
        package, name = split_full(full)
        if package not in protos or name not in protos[package]:
            raise SystemExit(f"unknown message {full}")
        if full in SPECIAL:
            continue
        for field in protos[package][name]:
            target = resolve(field["type"], package)
            if target:
                queue.append(target)

    for package, (_, out_name) in PACKAGES.items():
        names = sorted(split_full(f)[1] for f in needed if split_full(f)[0] == package)
        if not names:
            continue
        imports, body = set(), []
        for name in names:
            full = f"{package}.{name}"
            body.append(f"message {name} {{")
            if full in SPECIAL:
                body.append(f"  option (lifeboat.k8s.special) = {SPECIAL[full]};")
            if full in ROOTS:
                body.append("  option (lifeboat.k8s.object) = true;")
            go_fields = gos[package].get(name)
            if go_fields is None and full not in SPECIAL:
                raise SystemExit(f"no Go struct for {full}")
            for field in protos[package][name]:
                target = resolve(field["type"], package)
                if target:
                    target_package = split_full(target)[0]
                    if target_package != package:
                        imports.add(PACKAGES[target_package][1])
                type_text = "." + target if target else field["type"]
                opts = []
                if full not in SPECIAL:
                    go = go_fields.get(field["number"])
                    if go is None:
                        raise SystemExit(f"{full}: field {field['number']} has no Go field")
                    if go["inline"]:
                        opts.append("(lifeboat.k8s.inline) = true")
                    else:
                        if go["json"] != field["name"]:
                            print(f"note: {full}.{field['name']} renders as {go['json']}",
                                  file=sys.stderr)
                        opts.append(f'(lifeboat.k8s.json) = "{go["json"]}"')
                    if go["omitempty"]:
                        opts.append("(lifeboat.k8s.omitempty) = true")
                    if go["pointer"]:
                        opts.append("(lifeboat.k8s.pointer) = true")
                opt_text = f" [{', '.join(opts)}]" if opts else ""
                if field["label"] == "map":
                    decl = f"map<{field['key']}, {type_text}>"
                else:
                    decl = f"{'required' if field['label'] == 'required' else field['label']} {type_text}"
                    decl = decl.replace("required ", "optional ")
                body.append(f"  {decl} {field['name']} = {field['number']}{opt_text};")
            body.append("}")
            body.append("")
        header = [
            "// Generated by proto/k8s/tools/gen_k8s_protos.py from the Kubernetes v1.20 sources",
            "// (field numbers from generated.proto, JSON facts from the Go struct tags). Do not edit.",
            'syntax = "proto2";',
            "",
            f"package {package};",
            "",
            'import "k8s/options/json_options.proto";',
        ]
        for imp in sorted(imports):
            header.append(f'import "k8s/{imp}";')
        header.append("")
        with open(os.path.join(out_dir, out_name), "w") as f:
            f.write("\n".join(header + body).rstrip("\n") + "\n")
        print(f"{out_name}: {len(names)} messages")


if __name__ == "__main__":
    main()
