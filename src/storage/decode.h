// Decoding of the values kube-apiserver stores in etcd into exactly the JSON the API server
// serves for them (GET /api/v1/namespaces/<ns>/secrets/<name> and so on), so that an object read
// straight from etcd and one read through the API server are interchangeable.
//
// A value is, in the order checked:
//   `k8s:enc:<provider>:v1:<key>:...` encrypted at rest → decrypted with the Transformer, then
//                                   one of the two forms below;
//   `k8s\0` + runtime.Unknown       protobuf (the API server's default): the envelope names
//                                   apiVersion and kind, its payload is decoded with our schema
//                                   (schema.h, proto_json.h);
//   `{...}`                         JSON (--storage-media-type=application/json, custom
//                                   resources): returned as stored.
//
// Usage, with etcd/kv.h:
//   LB_ASSIGN_OR_RETURN(auto transformer, storage::Transformer::FromFile(config_path, prefix));
//   LB_ASSIGN_OR_RETURN(Json obj, storage::DecodeValue(kv.key, kv.value, transformer.get(),
//                                                      kv.mod_revision));
//
// The schema is the union of what Kubernetes 1.16 to 1.36 store (proto/k8s/, generated).
// Decoded in protobuf form: core/v1 Pod, Secret, ConfigMap; DaemonSet and Deployment of apps/v1,
// apps/v1beta2 and extensions/v1beta1, Deployment of apps/v1beta1 (Schema::ObjectKinds()).
// What the API server adds on read and etcd cannot hold: metadata.resourceVersion (pass
// mod_revision). Defaults a newer API server would apply to an object written by an older one
// are not applied.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kube/codec.h"
#include "storage/proto_json.h"
#include "storage/transformer.h"

namespace lifeboat::storage {

using kube::Json;

// How to decode (DecodeObject).
struct DecodeOptions {
  // A field the schema cannot decode (one a newer Kubernetes added, or a number no release has):
  // true refuses the object (InvalidArgument naming the etcd key and the field's path); false
  // leaves the field out and reports it in Decoded::dropped. The API server itself drops such
  // fields silently when an older one reads what a newer one wrote.
  bool strict = false;
  // Render as API servers built with Go >= 1.24 do (Kubernetes >= 1.33: `omitzero`, so a zero
  // metadata.creationTimestamp, as in every pod template, is left out); false renders as
  // Kubernetes <= 1.32 ("creationTimestamp": null). Nothing else in the schema depends on it.
  bool omitzero = true;
};

// A field left out of a decoded object, as data (for `recover`'s warnings and `doctor`).
struct DroppedField {
  std::string etcd_key;
  std::string object;  // "apps/v1 DaemonSet" (the envelope's apiVersion and kind)
  UnknownField field;
  // One line for an operator, e.g. `etcd key /registry/daemonsets/kube-system/kube-apiserver
  // (apps/v1 DaemonSet): field 99 at spec.template.spec.containers[0].<field 99> (wire type 2, in
  // k8s.io.api.core.v1.Container) is unknown to Lifeboat's schema: dropped, the output lacks it`.
  std::string Message() const;
};

struct Decoded {
  Json object;                       // with "apiVersion" and "kind"
  std::vector<DroppedField> dropped;  // empty unless a field could not be decoded (never when strict)
};

// Decodes the value stored at `etcd_key` (the key is the additional data of AES-GCM and names
// the resource whose encryption providers apply). `transformer` may be null when the cluster
// does not encrypt at rest; an encrypted value then fails with FailedPrecondition asking for
// --encryption-provider-config. When `mod_revision` is given (the etcd KeyValue's), it becomes
// metadata.resourceVersion, as the API server does when it reads an object: etcd values never
// contain it.
//
// Failures (none worth retrying; every message names the etcd key):
//  - FailedPrecondition / InvalidArgument / Unimplemented from Transformer::Decrypt;
//  - InvalidArgument: not a Kubernetes value, a truncated or corrupted envelope or object, or
//    (strict only) a field the schema cannot decode, named by its JSON path, e.g.
//    `spec.template.spec.containers[0].<field 99>`;
//  - Unimplemented: an apiVersion/kind Lifeboat has no schema for, or an envelope with a
//    content encoding.
absl::StatusOr<Decoded> DecodeObject(absl::string_view etcd_key, absl::string_view value,
                                     const Transformer* transformer,
                                     std::optional<int64_t> mod_revision,
                                     const DecodeOptions& options);

// DecodeObject, strict, rendering as Kubernetes <= 1.32 API servers do (the test bed's v1.20):
// the JSON alone, for callers that refuse any field they cannot decode.
absl::StatusOr<Json> DecodeValue(absl::string_view etcd_key, absl::string_view value,
                                 const Transformer* transformer);

// Same, and sets metadata.resourceVersion to `mod_revision`.
absl::StatusOr<Json> DecodeValue(absl::string_view etcd_key, absl::string_view value,
                                 const Transformer* transformer, int64_t mod_revision);

// The storage envelope of a protobuf value, for tools and tests.
struct Envelope {
  std::string api_version;
  std::string kind;
  absl::string_view raw;  // the object's bytes, pointing into the value
};

// Parses `k8s\0` + runtime.Unknown. InvalidArgument if malformed.
absl::StatusOr<Envelope> ParseEnvelope(absl::string_view value);

// The magic that starts every protobuf value.
inline constexpr absl::string_view kProtobufMagic{"k8s\0", 4};

}  // namespace lifeboat::storage
