// Where `recover` reads the control plane from: the API server or etcd. Sources hand out
// objects as the API server would serve them (JSON), so rendering does not care which it was.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "apiserver/client.h"
#include "recovery/render.h"

namespace lifeboat::recovery {

class ObjectSource {
 public:
  virtual ~ObjectSource() = default;
  // Calls `each` for every DaemonSet and Deployment of `ns`, with "kind" set.
  virtual absl::Status ForEachWorkload(absl::string_view ns,
                                       const std::function<absl::Status(Json&&)>& each) = 0;
  // A Secret ("Secret") or ConfigMap ("ConfigMap") by name; NotFound when absent.
  virtual absl::StatusOr<Json> Get(absl::string_view kind, absl::string_view ns,
                                   absl::string_view name) = 0;
  // For messages: "the API server at https://...".
  virtual std::string Describe() const = 0;
};

// Reads through the API server's REST API.
class ApiServerSource : public ObjectSource {
 public:
  explicit ApiServerSource(std::unique_ptr<apiserver::Client> client) : client_(std::move(client)) {}
  absl::Status ForEachWorkload(absl::string_view ns,
                               const std::function<absl::Status(Json&&)>& each) override;
  absl::StatusOr<Json> Get(absl::string_view kind, absl::string_view ns, absl::string_view name) override;
  std::string Describe() const override;

 private:
  std::unique_ptr<apiserver::Client> client_;
};

// Reads the control plane of `ns` and exactly the Secrets and ConfigMaps it references (by
// name, so memory stays bounded however many objects the namespace holds). Missing referenced
// objects are left out; Render names them.
absl::StatusOr<ClusterObjects> FetchControlPlane(ObjectSource& source, absl::string_view ns);

}  // namespace lifeboat::recovery
