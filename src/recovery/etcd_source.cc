#include "recovery/etcd_source.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/status.h"
#include "kube/names.h"
#include "storage/decode.h"

namespace lifeboat::recovery {

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
      LB_ASSIGN_OR_RETURN(Json obj, storage::DecodeValue(kv.key, kv.value, transformer_.get(), kv.mod_revision));
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
  return storage::DecodeValue(kv->key, kv->value, transformer_.get(), kv->mod_revision);
}

}  // namespace lifeboat::recovery
