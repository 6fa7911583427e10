// The descriptor-driven walker: Kubernetes protobuf bytes → the JSON the API server serves.
//
// One generic routine for every type. It reads the wire format field by field, looks each field
// up in the schema (schema.h) and renders it with Go's encoding/json rules as recorded in the
// field's options: omitempty, pointer (present iff set, else omitted or null), inline
// (embedded struct flattened into its parent), nil slices and maps as null, []byte as base64,
// and the special types (Time, MicroTime, Duration, Quantity, IntOrString, RawExtension,
// FieldsV1). A field the schema does not know (a number it lacks, or a known number with a wire
// type it cannot hold) is, by RenderOptions, an error naming its path, e.g.
// `spec.template.spec.containers[0].<field 99>`, or left out of the output and reported as an
// UnknownField: never silently dropped.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kube/codec.h"
#include "storage/schema.h"

namespace lifeboat::storage {

using kube::Json;

// A field on the wire that the schema cannot decode, left out of the output.
struct UnknownField {
  std::string path;     // JSON path of the field, e.g. "spec.template.spec.containers[0].<field 99>"
  uint32_t number = 0;  // its protobuf field number
  int wire_type = 0;
  std::string message;  // the proto message it was found in, e.g. "k8s.io.api.core.v1.Container"
  bool known_number = false;  // the number is known but the wire type does not fit it
};

struct RenderOptions {
  // False: a field the schema cannot decode fails the whole message (InvalidArgument).
  // True: it is left out and appended to the `unknown` list given to MessageToJson.
  bool drop_unknown_fields = false;
  // Go 1.24's `omitzero` tag, which API servers built with it honour (Kubernetes >= 1.33: a
  // zero metadata.creationTimestamp, as in every pod template, is left out). False renders as
  // older API servers did (`"creationTimestamp": null`).
  bool omitzero = true;
};

// Renders `bytes`, a serialized `message`, as a JSON value. InvalidArgument, with the JSON path
// of the offending field, on malformed input (and on unknown fields unless they are dropped).
// Never crashes on hostile input. `unknown` may be null when unknown fields are refused.
absl::StatusOr<Json> MessageToJson(const MessageSchema& message, absl::string_view bytes,
                                   const RenderOptions& options = {},
                                   std::vector<UnknownField>* unknown = nullptr);

}  // namespace lifeboat::storage
