#include "bootstrap/discovery.h"

#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace lifeboat::bootstrap {

std::string ApiResource::CollectionPath(const std::string& ns) const {
  if (namespaced) return absl::StrCat(group_version_path, "/namespaces/", ns, "/", resource);
  return absl::StrCat(group_version_path, "/", resource);
}

absl::StatusOr<ApiResource> ResourceMapper::Find(const std::string& api_version, const std::string& kind) {
  auto it = cache_.find(api_version);
  if (it == cache_.end()) {
    std::string gv_path =
        api_version.find('/') == std::string::npos ? "/api/" + api_version : "/apis/" + api_version;
    auto list = client_.Get(gv_path);
    if (!list.ok()) {
      if (absl::IsNotFound(list.status())) {
        return absl::NotFoundError(absl::StrCat("the API server does not serve ", api_version));
      }
      return list.status();
    }
    std::map<std::string, ApiResource> kinds;
    for (const auto& r : list->value("resources", kube::Json::array())) {
      std::string name = r.value("name", "");
      if (name.empty() || name.find('/') != std::string::npos) continue;  // subresources
      ApiResource res{gv_path, name, r.value("namespaced", false)};
      kinds.emplace(r.value("kind", ""), res);
    }
    it = cache_.emplace(api_version, std::move(kinds)).first;
  }
  auto k = it->second.find(kind);
  if (k == it->second.end()) {
    return absl::NotFoundError(absl::StrCat("the API server does not serve kind ", kind, " in ", api_version));
  }
  return k->second;
}

}  // namespace lifeboat::bootstrap
