// The descriptor-driven walker: Kubernetes protobuf bytes → the JSON the API server serves.
//
// One generic routine for every type. It reads the wire format field by field, looks each field
// up in the schema (schema.h) and renders it with Go's encoding/json rules as recorded in the
// field's options: omitempty, pointer (present iff set, else omitted or null), inline
// (embedded struct flattened into its parent), nil slices and maps as null, []byte as base64,
// and the special types (Time, MicroTime, Duration, Quantity, IntOrString, RawExtension,
// FieldsV1). A field number the schema does not know is an error naming its path, e.g.
// `spec.template.spec.containers[0].<field 99>`: data is never silently dropped.
#pragma once

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kube/codec.h"
#include "storage/schema.h"

namespace lifeboat::storage {

using kube::Json;

// Renders `bytes`, a serialized `message`, as a JSON value. InvalidArgument, with the JSON path
// of the offending field, on malformed or unknown input. Never crashes on hostile input.
absl::StatusOr<Json> MessageToJson(const MessageSchema& message, absl::string_view bytes);

}  // namespace lifeboat::storage
