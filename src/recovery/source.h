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
#include "storage/decode.h"

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
  // Fields left out of `object` (one this source handed out) because they could not be decoded,
  // e.g. fields a Kubernetes newer than Lifeboat's schema wrote to etcd. Sources that serve
  // the API server's JSON drop nothing.
  virtual std::vector<storage::DroppedField> DroppedFields(const Json& object) const { return {}; }
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
// objects are left out; Render names them. When `dropped` is given, it receives the fields
// left out of the objects returned (those that will be rendered): objects read but not kept
// (workloads that are not the control plane) never matter.
absl::StatusOr<ClusterObjects> FetchControlPlane(ObjectSource& source, absl::string_view ns,
                                                 std::vector<storage::DroppedField>* dropped = nullptr);

}  // namespace lifeboat::recovery
