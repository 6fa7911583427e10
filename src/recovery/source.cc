#include "recovery/source.h"

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "kube/names.h"
#include "kube/static_pod.h"

namespace lifeboat::recovery {

absl::Status ApiServerSource::ForEachWorkload(absl::string_view ns,
                                              const std::function<absl::Status(Json&&)>& each) {
  LB_RETURN_IF_ERROR(kube::ValidateObjectName("namespace", ns));
  for (auto [resource, kind] : {std::pair{"daemonsets", "DaemonSet"}, {"deployments", "Deployment"}}) {
    std::string path = absl::StrCat("/apis/apps/v1/namespaces/", ns, "/", resource);
    LB_RETURN_IF_ERROR(client_->List(path, "", 500, [&](Json&& item) {
      item["kind"] = kind;
      item["apiVersion"] = "apps/v1";
      return each(std::move(item));
    }));
  }
  return absl::OkStatus();
}

absl::StatusOr<Json> ApiServerSource::Get(absl::string_view kind, absl::string_view ns,
                                          absl::string_view name) {
  LB_RETURN_IF_ERROR(kube::ValidateObjectName("namespace", ns));
  LB_RETURN_IF_ERROR(kube::ValidateObjectName(kind, name));
  std::string resource = kind == "Secret" ? "secrets" : "configmaps";
  return client_->Get(absl::StrCat("/api/v1/namespaces/", ns, "/", resource, "/", name));
}

std::string ApiServerSource::Describe() const {
  return absl::StrCat("the API server at ", client_->server());
}

absl::StatusOr<ClusterObjects> FetchControlPlane(ObjectSource& source, absl::string_view ns,
                                                 std::vector<storage::DroppedField>* dropped) {
  ClusterObjects out;
  out.ns = std::string(ns);
  LB_RETURN_IF_ERROR(source.ForEachWorkload(ns, [&](Json&& w) {
    if (IsControlPlane(w)) out.workloads.push_back(std::move(w));
    return absl::OkStatus();
  }));
  kube::References refs;
  for (const auto& w : out.workloads) {
    auto r = kube::ReferencedObjects(w.value("/spec/template/spec"_json_pointer, Json::object()));
    refs.secrets.merge(r.secrets);
    refs.config_maps.merge(r.config_maps);
  }
  auto fetch = [&](absl::string_view kind, const std::set<std::string>& names,
                   std::map<std::string, Json>& into) -> absl::Status {
    for (const auto& name : names) {
      if (!kube::ValidateObjectName(kind, name).ok()) continue;  // Render reports it
      auto obj = source.Get(kind, ns, name);
      if (absl::IsNotFound(obj.status())) continue;
      if (!obj.ok()) return obj.status();
      into.emplace(name, *std::move(obj));
    }
    return absl::OkStatus();
  };
  LB_RETURN_IF_ERROR(fetch("Secret", refs.secrets, out.secrets));
  LB_RETURN_IF_ERROR(fetch("ConfigMap", refs.config_maps, out.config_maps));
  if (dropped != nullptr) {
    auto add = [&](const Json& obj) {
      for (auto& d : source.DroppedFields(obj)) dropped->push_back(std::move(d));
    };
    for (const auto& w : out.workloads) add(w);
    for (const auto& [name, obj] : out.secrets) add(obj);
    for (const auto& [name, obj] : out.config_maps) add(obj);
  }
  return out;
}

}  // namespace lifeboat::recovery
