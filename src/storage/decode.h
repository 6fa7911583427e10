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
// Decoded in protobuf form: core/v1 Pod, Secret, ConfigMap; DaemonSet and Deployment of apps/v1,
// apps/v1beta2 and extensions/v1beta1, Deployment of apps/v1beta1 (Schema::ObjectKinds()).
// What the API server adds on read and etcd cannot hold: metadata.resourceVersion (pass
// mod_revision). Defaults a newer API server would apply to an object written by an older one
// are not applied.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kube/codec.h"
#include "storage/transformer.h"

namespace lifeboat::storage {

using kube::Json;

// Decodes the value stored at `etcd_key` (the key is the additional data of AES-GCM and names
// the resource whose encryption providers apply). `transformer` may be null when the cluster
// does not encrypt at rest; an encrypted value then fails with FailedPrecondition asking for
// --encryption-provider-config. The result has "apiVersion" and "kind".
//
// Failures (none worth retrying; every message names the etcd key):
//  - FailedPrecondition / InvalidArgument / Unimplemented from Transformer::Decrypt;
//  - InvalidArgument: not a Kubernetes value, a truncated or corrupted envelope or object, or a
//    field our schema does not know (named by its JSON path, e.g.
//    `spec.template.spec.containers[0].<field 99>`): nothing is silently dropped;
//  - Unimplemented: an apiVersion/kind Lifeboat has no schema for, or an envelope with a
//    content encoding.
absl::StatusOr<Json> DecodeValue(absl::string_view etcd_key, absl::string_view value,
                                 const Transformer* transformer);

// Same, and sets metadata.resourceVersion to `mod_revision` (the etcd KeyValue's), as the API
// server does when it reads an object: etcd values never contain it.
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
