#!/usr/bin/env python3
"""Writes Lifeboat's storage schemas (proto/k8s/*.proto) from a Kubernetes source tree.

Usage: gen_k8s_protos.py --source-name NAME <kubernetes-source-tree> <output-dir>
   or: gen_k8s_protos.py --fresh --source-name NAME <kubernetes-source-tree> <output-dir>

The schemas describe the objects kube-apiserver stores in etcd. For each message reachable from
the roots below, two facts are joined by protobuf field number:
  * the wire shape (scalar type, repeated, map, message type), from the tree's generated.proto;
  * how Go's encoding/json renders the field, from the `json:` and `protobuf:` struct tags and
    the Go type in the package's types.go (JSON key, omitempty, omitzero, pointer, inline).
The result is plain proto2 with Lifeboat's options (options/json_options.proto) on every field.
Nothing else is carried over: no comments, no gogo options.

The schemas are a UNION over releases: etcd keeps objects written by every release a cluster
has run, so a field a newer release removed must still decode. Unless --fresh is given, the
schemas already in <output-dir> are read first and every field (and the message types it needs)
that the new tree no longer has is kept, marked `// removed: ...`; so are the fields listed in
HISTORICAL below (fields that came and went between two generations). A field number the new
tree uses with another name or an incompatible wire type is an error: a number is never reused
with another meaning. The header of each file lists every source the union came from.

To move to the next release: lay its k8s.io/api and k8s.io/apimachinery sources out as
staging/src/k8s.io/{api,apimachinery}/... (as in the Kubernetes repository), run
  proto/k8s/tools/gen_k8s_protos.py --source-name "Kubernetes v1.NN.P (k8s.io/api v0.NN.P)" \
      <tree> proto/k8s
and add to HISTORICAL any field a release between the two generations added and removed again.
The generated files are committed.
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

# Fields that a release between two generations added and a later one removed, which neither
# generation's tree shows. Facts from the release notes and API reviews named in `removed`.
HISTORICAL = {
    "k8s.io.api.core.v1.PodSpec": [
        {"label": "optional", "type": ".k8s.io.api.core.v1.WorkloadReference", "name": "workloadRef",
         "number": 42, "opts": ['(lifeboat.k8s.json) = "workloadRef"', "(lifeboat.k8s.omitempty) = true",
                                "(lifeboat.k8s.pointer) = true"],
         "removed": "Kubernetes v1.35 only (alpha GenericWorkload; replaced by schedulingGroup = 43)"},
    ],
    "k8s.io.api.core.v1.WorkloadReference": [
        {"label": "optional", "type": "string", "name": "name", "number": 1,
         "opts": ['(lifeboat.k8s.json) = "name"'], "removed": "Kubernetes v1.35 only"},
        {"label": "optional", "type": "string", "name": "podGroup", "number": 2,
         "opts": ['(lifeboat.k8s.json) = "podGroup"'], "removed": "Kubernetes v1.35 only"},
        {"label": "optional", "type": "string", "name": "podGroupReplicaKey", "number": 3,
         "opts": ['(lifeboat.k8s.json) = "podGroupReplicaKey"', "(lifeboat.k8s.omitempty) = true"],
         "removed": "Kubernetes v1.35 only"},
    ],
}

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
                    "omitzero": "omitzero" in json_parts[1:],
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


def parse_generated(out_dir):
    """Reads schemas this tool wrote before: ({full message: {"options": [...], "fields": [...]}},
    [source lines from their headers])."""
    messages, sources = {}, []
    if not os.path.isdir(out_dir):
        return messages, sources
    field_re = re.compile(r"^(optional|repeated)\s+(\S+)\s+(\w+)\s*=\s*(\d+)\s*(\[(.*)\])?;(\s*//\s*removed:\s*(.*))?$")
    map_re = re.compile(r"^map<(\S+),\s*(\S+)>\s+(\w+)\s*=\s*(\d+)\s*(\[(.*)\])?;(\s*//\s*removed:\s*(.*))?$")
    for name in sorted(os.listdir(out_dir)):
        if not name.endswith(".proto"):
            continue
        package, current = None, None
        with open(os.path.join(out_dir, name)) as f:
            for raw in f:
                line = raw.strip()
                m = re.match(r"^//\s+- (.*)$", line)
                if m and current is None and package is None:
                    if m.group(1) not in sources:
                        sources.append(m.group(1))
                    continue
                m = re.match(r"^//.*from the (Kubernetes v[\d.]+) sources", line)
                if m and package is None:  # the first generation's header
                    if m.group(1) not in sources:
                        sources.append(m.group(1))
                    continue
                m = re.match(r"^package\s+([\w.]+);", line)
                if m:
                    package = m.group(1)
                    continue
                m = re.match(r"^message\s+(\w+)\s*\{", line)
                if m:
                    current = {"options": [], "fields": []}
                    messages[f"{package}.{m.group(1)}"] = current
                    continue
                if current is None:
                    continue
                if line == "}":
                    current = None
                    continue
                if line.startswith("option "):
                    current["options"].append(line)
                    continue
                m = field_re.match(line)
                mm = map_re.match(line) if not m else None
                if m:
                    field = {"label": m.group(1), "type": m.group(2), "name": m.group(3),
                             "number": int(m.group(4))}
                    opts, removed = m.group(6), m.group(8)
                elif mm:
                    field = {"label": "map", "key": mm.group(1), "type": mm.group(2),
                             "name": mm.group(3), "number": int(mm.group(4))}
                    opts, removed = mm.group(6), mm.group(8)
                else:
                    raise SystemExit(f"{name}: cannot parse: {line}")
                field["opts"] = [o.strip() for o in re.split(r",\s*(?=\()", opts)] if opts else []
                if removed:
                    field["removed"] = removed.strip()
                current["fields"].append(field)
    return messages, sources


def is_message_type(type_text):
    return type_text.startswith(".")


def check_same_meaning(full, old, new):
    """A number kept across releases must keep its name and wire shape."""
    where = f"{full} field {new['number']}"
    if old["name"] != new["name"]:
        raise SystemExit(f"{where}: was {old['name']}, the new tree calls it {new['name']}: "
                         "a field number reused with another meaning? Resolve by hand.")
    if old["label"] != new["label"] or old.get("key") != new.get("key"):
        raise SystemExit(f"{where} ({new['name']}): label/map shape changed")
    if is_message_type(old["type"]) != is_message_type(new["type"]):
        raise SystemExit(f"{where} ({new['name']}): {old['type']} became {new['type']}")
    if not is_message_type(old["type"]) and old["type"] != new["type"]:
        raise SystemExit(f"{where} ({new['name']}): scalar {old['type']} became {new['type']}")
    if old["type"] != new["type"]:
        print(f"note: {where} ({new['name']}): message type {old['type']} is now {new['type']} "
              "(a renamed type: its fields are checked and united like the same type's)",
              file=sys.stderr)
        return old["type"][1:], new["type"][1:]
    return None


def json_key(field):
    for o in field["opts"]:
        m = re.match(r'\(lifeboat\.k8s\.json\) = "(.*)"', o)
        if m:
            return m.group(1)
    return None


def generate(tree, source_name):
    """The schema of one tree: {full message: {"options": [...], "fields": [...]}}."""
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

    schema = {}
    for full in needed:
        package, name = split_full(full)
        message = {"options": [], "fields": []}
        if full in SPECIAL:
            message["options"].append(f"option (lifeboat.k8s.special) = {SPECIAL[full]};")
        if full in ROOTS:
            message["options"].append("option (lifeboat.k8s.object) = true;")
        go_fields = gos[package].get(name)
        if go_fields is None and full not in SPECIAL:
            raise SystemExit(f"no Go struct for {full}")
        for field in protos[package][name]:
            target = resolve(field["type"], package)
            opts = []
            if full not in SPECIAL:
                go = go_fields.get(field["number"])
                if go is None:
                    raise SystemExit(f"{full}: field {field['number']} has no Go field")
                if go["inline"]:
                    opts.append("(lifeboat.k8s.inline) = true")
                else:
                    opts.append(f'(lifeboat.k8s.json) = "{go["json"]}"')
                if go["omitempty"]:
                    opts.append("(lifeboat.k8s.omitempty) = true")
                if go["omitzero"]:
                    opts.append("(lifeboat.k8s.omitzero) = true")
                if go["pointer"]:
                    opts.append("(lifeboat.k8s.pointer) = true")
            out = {"label": "optional" if field["label"] == "required" else field["label"],
                   "type": "." + target if target else field["type"], "name": field["name"],
                   "number": field["number"], "opts": opts}
            if field["label"] == "map":
                out["key"] = field["key"]
            message["fields"].append(out)
        schema[full] = message
    return schema


def unite(new, old, removed_note):
    """Adds to `new` every field of `old` whose number `new` lacks (and the types they need)."""
    def carry_message(full):
        if full in new:
            return
        if full not in old:
            raise SystemExit(f"removed field needs message {full}, which no source has")
        message = {"options": list(old[full]["options"]), "fields": []}
        new[full] = message
        for field in old[full]["fields"]:
            field = dict(field)
            field.setdefault("removed", removed_note)
            message["fields"].append(field)
            if is_message_type(field["type"]):
                carry_message(field["type"][1:])

    # (old message, new message) pairs to unite: the same name, or a type renamed in place.
    pairs = [(full, full) for full in sorted(new) if full in old]
    done = set()
    while pairs:
        old_full, full = pairs.pop(0)
        if (old_full, full) in done or old_full not in old:
            continue
        done.add((old_full, full))
        by_number = {f["number"]: f for f in new[full]["fields"]}
        json_keys = {json_key(f) for f in new[full]["fields"]} - {None}
        for field in old[old_full]["fields"]:
            current = by_number.get(field["number"])
            if current is not None:
                renamed = check_same_meaning(full, field, current)
                if renamed:
                    pairs.append(renamed)
                continue
            key = json_key(field)
            if key is not None and key in json_keys:
                raise SystemExit(f"{full}: removed field {field['number']} renders as {key}, "
                                 "which a current field also uses")
            field = dict(field)
            field.setdefault("removed", removed_note)
            new[full]["fields"].append(field)
            if is_message_type(field["type"]):
                carry_message(field["type"][1:])
    return new


def write(schema, out_dir, sources):
    for package, (_, out_name) in PACKAGES.items():
        names = sorted(split_full(f)[1] for f in schema if split_full(f)[0] == package)
        if not names:
            continue
        imports, body = set(), []
        for name in names:
            full = f"{package}.{name}"
            message = schema[full]
            body.append(f"message {name} {{")
            for option in message["options"]:
                body.append(f"  {option}")
            for field in message["fields"]:
                if is_message_type(field["type"]):
                    target_package = split_full(field["type"][1:])[0]
                    if target_package != package:
                        imports.add(PACKAGES[target_package][1])
                opt_text = f" [{', '.join(field['opts'])}]" if field["opts"] else ""
                if field["label"] == "map":
                    decl = f"map<{field['key']}, {field['type']}>"
                else:
                    decl = f"{field['label']} {field['type']}"
                line = f"  {decl} {field['name']} = {field['number']}{opt_text};"
                if "removed" in field:
                    line += f"  // removed: {field['removed']}"
                body.append(line)
            body.append("}")
            body.append("")
        header = [
            "// Generated by proto/k8s/tools/gen_k8s_protos.py. Do not edit.",
            "// Field numbers from generated.proto, JSON facts from the Go struct tags; the union of:",
        ] + [f"//   - {s}" for s in sources] + [
            "// Fields marked `removed` are no longer in the newest source; older releases stored them.",
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
        removed = sum(1 for m in names for fl in schema[f"{package}.{m}"]["fields"] if "removed" in fl)
        print(f"{out_name}: {len(names)} messages, {removed} removed fields kept")


def main():
    args = sys.argv[1:]
    fresh = "--fresh" in args
    args = [a for a in args if a != "--fresh"]
    source_name = None
    if "--source-name" in args:
        i = args.index("--source-name")
        if i + 1 >= len(args):
            raise SystemExit(__doc__)
        source_name = args[i + 1]
        del args[i:i + 2]
    if len(args) != 2 or not source_name:
        raise SystemExit(__doc__)
    tree, out_dir = args
    schema = generate(tree, source_name)
    sources = [source_name]
    if not fresh:
        old, old_sources = parse_generated(out_dir)
        removed_note = f"not in {source_name}; in {old_sources[0] if old_sources else 'an earlier generation'}"
        schema = unite(schema, old, removed_note)
        historical = {full: {"options": [], "fields": fields} for full, fields in HISTORICAL.items()}
        schema = unite(schema, historical, "see HISTORICAL in the generator")
        for full, fields in HISTORICAL.items():  # whole messages only HISTORICAL has
            if full not in schema:
                schema[full] = {"options": [], "fields": [dict(f) for f in fields]}
        sources += [s for s in old_sources if s not in sources]
        sources.append("HISTORICAL in the generator (fields that came and went between generations)")
        sources = list(dict.fromkeys(sources))
    write(schema, out_dir, sources)


if __name__ == "__main__":
    main()
