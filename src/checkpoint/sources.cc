#include "checkpoint/sources.h"

#include "checkpoint/api_watcher.h"

#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "base/status.h"
#include "node/api_pods.h"
#include "node/cri.h"
#include "node/kubelet.h"

namespace lifeboat::checkpoint {

NodeSources::NodeSources(std::unique_ptr<ApiWatcher> api, std::unique_ptr<node::KubeletClient> kubelet,
                         std::unique_ptr<node::CriClient> cri, std::unique_ptr<node::ApiObjectReader> objects)
    : api_(std::move(api)), kubelet_(std::move(kubelet)), cri_(std::move(cri)), objects_(std::move(objects)) {
  api_->Start();
}

NodeSources::~NodeSources() { api_->Stop(); }

absl::StatusOr<std::string> NodeSources::KubeletPods() {
  auto pods = kubelet_->GetPods();
  if (pods.ok() && kubelet_->last_url() != kubelet_url_) {
    kubelet_url_ = kubelet_->last_url();
    LOG_INFO("reading the kubelet's pods from {}", kubelet_url_);
  }
  return pods;
}

absl::StatusOr<std::set<PodId>> NodeSources::RunningPods() {
  LB_ASSIGN_OR_RETURN(node::RuntimeSnapshot snap, cri_->ListRunning());
  if (cri_->api() != cri_api_) {
    cri_api_ = cri_->api();
    LOG_INFO("talking to the container runtime over the CRI's {}", cri_api_);
  }
  std::set<PodId> out;
  for (auto& [ns, name] : node::RunningPods(snap)) out.insert(PodId{ns, name});
  return out;
}

absl::StatusOr<ApiView> NodeSources::ApiParents() { return api_->View(); }

absl::StatusOr<Json> NodeSources::GetObject(absl::string_view kind, absl::string_view name) {
  LB_ASSIGN_OR_RETURN(absl::string_view text, objects_->Get(kind == "Secret" ? "secrets" : "configmaps", name));
  return kube::ParseJson(text);
}

}  // namespace lifeboat::checkpoint

namespace lifeboat::checkpoint {

absl::StatusOr<Json> NodeSources::RequestToken(absl::string_view service_account, const Json& request) {
  LB_ASSIGN_OR_RETURN(absl::string_view text, objects_->RequestToken(service_account, request.dump()));
  return kube::ParseJson(text);
}

}  // namespace lifeboat::checkpoint
