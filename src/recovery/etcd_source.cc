#include "recovery/etcd_source.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/status.h"
#include "kube/names.h"
#include "storage/decode.h"

namespace lifeboat::recovery {
namespace {

std::string ObjectId(const Json& object) {
  if (!object.is_object()) return "";
  const Json& meta = object.value("metadata", Json::object());
  auto str = [](const Json& j, const char* key) {
    return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
  };
  return absl::StrCat(str(object, "kind"), " ", str(meta, "namespace"), "/", str(meta, "name"));
}

}  // namespace

EtcdSource::EtcdSource(std::unique_ptr<etcd::KvReader> kv, std::string prefix,
                       std::unique_ptr<storage::Transformer> transformer)
    : kv_(std::move(kv)),
      prefix_(absl::StripSuffix(prefix, "/")),
      transformer_(std::move(transformer)) {}

std::vector<std::string> EtcdSource::KeyPrefixes(absl::string_view prefix, absl::string_view ns) {
  std::vector<std::string> out;
  for (const char* resource : {"daemonsets", "deployments", "secrets", "configmaps"}) {
    out.push_back(absl::StrCat(absl::StripSuffix(prefix, "/"), "/", resource, "/", ns, "/"));
  }
  return out;
}

absl::Status EtcdSource::ForEachWorkload(absl::string_view ns,
                                         const std::function<absl::Status(Json&&)>& each) {
  LB_RETURN_IF_ERROR(kube::ValidateObjectName("namespace", ns));
  // DaemonSets and Deployments of every API group share these keys (cohabitating resources);
  // the envelope says which version wrote each one.
  for (const char* resource : {"daemonsets", "deployments"}) {
    std::string key_prefix = absl::StrCat(prefix_, "/", resource, "/", ns, "/");
    LB_RETURN_IF_ERROR(kv_->Range(key_prefix, [&](etcd::KeyValue&& kv) -> absl::Status {
      LB_ASSIGN_OR_RETURN(Json obj, Decode(kv));
      return each(std::move(obj));
    }));
  }
  return absl::OkStatus();
}

absl::StatusOr<Json> EtcdSource::Get(absl::string_view kind, absl::string_view ns, absl::string_view name) {
  LB_RETURN_IF_ERROR(kube::ValidateObjectName("namespace", ns));
  LB_RETURN_IF_ERROR(kube::ValidateObjectName(kind, name));
  std::string key = absl::StrCat(prefix_, "/", kind == "Secret" ? "secrets" : "configmaps", "/", ns, "/", name);
  LB_ASSIGN_OR_RETURN(auto kv, kv_->Get(key));
  if (!kv.has_value()) return absl::NotFoundError(absl::StrCat(key, " not found in ", kv_->Describe()));
  return Decode(*kv);
}

absl::StatusOr<Json> EtcdSource::Decode(const etcd::KeyValue& kv) {
  LB_ASSIGN_OR_RETURN(storage::Decoded d, storage::DecodeObject(kv.key, kv.value, transformer_.get(),
                                                                kv.mod_revision, {.strict = false}));
  std::string id = ObjectId(d.object);
  if (d.dropped.empty()) {
    dropped_.erase(id);
  } else {
    dropped_[id] = std::move(d.dropped);
  }
  return std::move(d.object);
}

std::vector<storage::DroppedField> EtcdSource::DroppedFields(const Json& object) const {
  auto it = dropped_.find(ObjectId(object));
  return it == dropped_.end() ? std::vector<storage::DroppedField>{} : it->second;
}

}  // namespace lifeboat::recovery
