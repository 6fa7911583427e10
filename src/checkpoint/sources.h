// What the checkpointer observes, behind one interface so the tick loop can be tested with
// fakes: the API server's parents on this node (the source of every checkpoint), the kubelet's
// pods (only whether it knows a parent), the runtime's running pods, and the Secrets/ConfigMaps
// a checkpoint needs.
#pragma once

#include <memory>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "checkpoint/pod.h"
#include "checkpoint/pod_list.h"
#include "checkpoint/pod_watch.h"

namespace lifeboat::node {
class ApiObjectReader;
class ApiPodLister;
class CriClient;
class KubeletClient;
}  // namespace lifeboat::node

namespace lifeboat::checkpoint {

class ApiWatcher;

// The API server's parents on this node, as last seen.
struct ApiView {
  std::shared_ptr<const ParentMap> parents = std::make_shared<ParentMap>();
  uint64_t version = 0;  // changes whenever `parents` does
};

class Sources {
 public:
  virtual ~Sources() = default;
  // The kubelet's /pods (a PodList as JSON text). Only which parents it lists is used, never
  // their specs.
  virtual absl::StatusOr<std::string> KubeletPods() = 0;
  // Pods with a ready sandbox and a running container, by namespace/name.
  virtual absl::StatusOr<std::set<PodId>> RunningPods() = 0;
  // The parents among the API server's pods of our namespace bound to this node, with their
  // specs. An error means the API server cannot be read now ("API available" is false).
  virtual absl::StatusOr<ApiView> ApiParents() = 0;
  // A Secret ("Secret") or ConfigMap ("ConfigMap") of our namespace; NotFound when absent.
  virtual absl::StatusOr<Json> GetObject(absl::string_view kind, absl::string_view name) = 0;
  // TokenRequest for service account `service_account` of our namespace (`request` is the
  // authentication.k8s.io/v1 TokenRequest to POST); the API server's answer (status.token,
  // status.expirationTimestamp).
  virtual absl::StatusOr<Json> RequestToken(absl::string_view service_account, const Json& request) = 0;
};

// The real thing: kubelet over HTTP(S), runtime over CRI, API server over HTTPS.
class NodeSources : public Sources {
 public:
  // `api` is started here and stopped with this object.
  NodeSources(std::unique_ptr<ApiWatcher> api, std::unique_ptr<node::KubeletClient> kubelet,
              std::unique_ptr<node::CriClient> cri, std::unique_ptr<node::ApiObjectReader> objects);
  ~NodeSources() override;
  absl::StatusOr<std::string> KubeletPods() override;
  absl::StatusOr<std::set<PodId>> RunningPods() override;
  absl::StatusOr<ApiView> ApiParents() override;
  absl::StatusOr<Json> GetObject(absl::string_view kind, absl::string_view name) override;
  absl::StatusOr<Json> RequestToken(absl::string_view service_account, const Json& request) override;

  node::CriClient& cri() { return *cri_; }
  ApiWatcher& api() { return *api_; }

 private:
  std::unique_ptr<ApiWatcher> api_;
  std::unique_ptr<node::KubeletClient> kubelet_;
  std::unique_ptr<node::CriClient> cri_;
  std::unique_ptr<node::ApiObjectReader> objects_;
  std::string kubelet_url_;
  std::string cri_api_;
};

}  // namespace lifeboat::checkpoint
