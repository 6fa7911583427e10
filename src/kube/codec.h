// YAML and JSON codecs for Kubernetes objects. Every source of objects converges on
// nlohmann::json as the API server would serve it; this is the adapter for text on disk.
// Output is deterministic: keys sorted, the same input gives the same bytes.
#pragma once

#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace lifeboat::kube {

using Json = nlohmann::json;

// obj[key] when `obj` is an object holding `key`, else a null: reads a field of an object from
// the API without creating it and without throwing on a missing or mistyped parent.
inline const Json& Member(const Json& obj, const char* key) {
  static const Json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

// Parses a single JSON document. InvalidArgument with the parser's position on bad input.
absl::StatusOr<Json> ParseJson(absl::string_view text);

// Parses YAML or JSON text holding one or more documents (`---` separated). Empty documents
// are skipped. Plain (unquoted) scalars resolve by YAML 1.1 rules, as Kubernetes' reader
// (sigs.k8s.io/yaml over go-yaml v2) resolves them, not by YAML 1.2's core schema: besides
// true/false, null/~ and the empty value, y/n, yes/no and on/off are booleans; "0400" is octal
// (as are 0o and 0b/0x forms), "_" may group digits; floats and .inf. Everything quoted is a
// string.
absl::StatusOr<std::vector<Json>> ParseDocuments(absl::string_view text);

// Renders `value` as block-style YAML ending in a newline. Strings that YAML could read as
// anything else are double-quoted, so ParseDocuments(ToYaml(v)) == v.
std::string ToYaml(const Json& value);

// Renders `value` as indented JSON ending in a newline.
std::string ToPrettyJson(const Json& value);

}  // namespace lifeboat::kube
