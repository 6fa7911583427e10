// The Kubernetes storage schema Lifeboat decodes: our own proto2 files (proto/k8s/), compiled
// by protoc into a descriptor set that is embedded in the library, turned into lookup tables
// once. Each field carries the facts that decide its JSON form (options/json_options.proto).
//
// To decode more kinds, add them as roots in proto/k8s/tools/gen_k8s_protos.py and regenerate.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lifeboat::storage {

// Mirrors lifeboat.k8s.Special.
enum class Special { kNone = 0, kTime, kMicroTime, kDuration, kQuantity, kIntOrString, kRawExtension, kFieldsV1 };

// Mirrors google.protobuf.FieldDescriptorProto.Type for the types we use.
enum class ScalarType {
  kMessage, kString, kBytes, kBool, kInt32, kInt64, kUint32, kUint64, kSint32, kSint64,
  kFixed32, kFixed64, kSfixed32, kSfixed64, kFloat, kDouble, kEnum,
};

struct MessageSchema;

struct FieldSchema {
  int number = 0;
  std::string proto_name;
  std::string json;  // empty for inline fields
  ScalarType type = ScalarType::kString;
  bool repeated = false;
  bool is_map = false;  // `message` is then the entry type (key = 1, value = 2)
  bool omitempty = false;
  bool omitzero = false;  // Go 1.24 `omitzero`: see RenderOptions::omitzero
  bool pointer = false;
  bool inline_ = false;
  const MessageSchema* message = nullptr;  // kMessage fields and maps
};

struct MessageSchema {
  std::string full_name;  // "k8s.io.api.core.v1.Pod"
  std::string name;       // "Pod"
  Special special = Special::kNone;
  bool object = false;    // a top-level kind
  bool map_entry = false;
  std::vector<FieldSchema> fields;  // declaration order
  // Index into `fields` by field number, or nullptr.
  const FieldSchema* FindField(uint32_t number) const {
    return number < by_number.size() && by_number[number] >= 0 ? &fields[by_number[number]]
                                                                : nullptr;
  }
  std::vector<int> by_number;
};

class Schema {
 public:
  // The schema embedded in the library. Built on first use; the embedded descriptor set is
  // produced by our build, so a failure to load it is a broken build and aborts.
  static const Schema& Embedded();

  // Builds a schema from a serialized google.protobuf.FileDescriptorSet. InvalidArgument if
  // it does not parse or references unknown types.
  static absl::StatusOr<std::unique_ptr<Schema>> FromDescriptorSet(absl::string_view bytes);

  // A message by full name ("k8s.io.api.core.v1.PodSpec"), or nullptr.
  const MessageSchema* FindMessage(absl::string_view full_name) const;

  // The top-level kind stored under `api_version` ("v1", "apps/v1", "extensions/v1beta1")
  // and `kind` ("Pod"), or nullptr if Lifeboat does not know it.
  const MessageSchema* FindObject(absl::string_view api_version, absl::string_view kind) const;

  // Every known top-level kind as "apiVersion kind", sorted, for messages.
  std::vector<std::string> ObjectKinds() const;

 private:
  absl::flat_hash_map<std::string, std::unique_ptr<MessageSchema>> messages_;
};

// The proto package that holds Kubernetes' types for `api_version`: "v1" → "k8s.io.api.core.v1",
// "apps/v1" → "k8s.io.api.apps.v1", "rbac.authorization.k8s.io/v1" → "k8s.io.api.rbac.v1".
std::string PackageForApiVersion(absl::string_view api_version);

}  // namespace lifeboat::storage
