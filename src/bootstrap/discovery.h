// Where an object of a given apiVersion/kind lives in the API, from the API server's own
// discovery documents (no hard-coded table, so custom resources work as soon as their CRD is
// established).
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "apiserver/client.h"

namespace lifeboat::bootstrap {

struct ApiResource {
  std::string group_version_path;  // "/api/v1" or "/apis/apps/v1"
  std::string resource;            // "deployments"
  bool namespaced = false;

  // The collection an object of `ns` is created in.
  std::string CollectionPath(const std::string& ns) const;
};

class ResourceMapper {
 public:
  explicit ResourceMapper(apiserver::Client& client) : client_(client) {}
  // NotFound when the API server does not serve `kind` in `api_version` (yet).
  absl::StatusOr<ApiResource> Find(const std::string& api_version, const std::string& kind);
  // Forgets what was learnt about `api_version` (after creating a CRD, for instance).
  void Forget(const std::string& api_version) { cache_.erase(api_version); }

 private:
  apiserver::Client& client_;
  std::map<std::string, std::map<std::string, ApiResource>> cache_;  // apiVersion -> kind -> resource
};

}  // namespace lifeboat::bootstrap
