// Reads the control plane straight from etcd — a live cluster (etcd/client.h) or a snapshot file
// (etcd/snapshot.h) — decoding values into the API server's JSON (storage/decode.h), so that
// rendering cannot tell it from the API-server path.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "etcd/kv.h"
#include "recovery/source.h"
#include "storage/transformer.h"

namespace lifeboat::recovery {

class EtcdSource : public ObjectSource {
 public:
  // `prefix` is the API server's --etcd-prefix; `transformer` may be null (no encryption at rest).
  EtcdSource(std::unique_ptr<etcd::KvReader> kv, std::string prefix,
             std::unique_ptr<storage::Transformer> transformer);
  absl::Status ForEachWorkload(absl::string_view ns,
                               const std::function<absl::Status(Json&&)>& each) override;
  absl::StatusOr<Json> Get(absl::string_view kind, absl::string_view ns, absl::string_view name) override;
  std::string Describe() const override { return kv_->Describe(); }
  // Values are decoded leniently (storage::DecodeOptions::strict = false): a field the schema
  // cannot decode is left out and reported here, so that objects `recover` does not render
  // never stop it; the caller decides whether a dropped field in a rendered one is fatal.
  std::vector<storage::DroppedField> DroppedFields(const Json& object) const override;

  // The key prefixes this source reads for namespace `ns` under --etcd-prefix `prefix`: its
  // DaemonSets and Deployments (ranged) and its Secrets and ConfigMaps (read by name). A reader
  // limited to them (etcd::SnapshotOptions::key_prefixes) serves everything this source asks.
  static std::vector<std::string> KeyPrefixes(absl::string_view prefix, absl::string_view ns);

 private:
  std::unique_ptr<etcd::KvReader> kv_;
  std::string prefix_;
  std::unique_ptr<storage::Transformer> transformer_;
  // "Kind namespace/name" -> fields dropped from it (only objects that had any).
  std::map<std::string, std::vector<storage::DroppedField>> dropped_;

  absl::StatusOr<Json> Decode(const etcd::KeyValue& kv);
};

}  // namespace lifeboat::recovery
