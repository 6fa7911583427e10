#include "checkpoint/sources.h"

#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "base/status.h"
#include "node/api_pods.h"
#include "node/cri.h"
#include "node/kubelet.h"

namespace lifeboat::checkpoint {

NodeSources::NodeSources(std::string ns, std::unique_ptr<node::KubeletClient> kubelet,
                         std::unique_ptr<node::CriClient> cri, std::unique_ptr<node::ApiPodLister> pods,
                         std::unique_ptr<node::ApiObjectReader> objects)
    : api_(std::move(ns)),
      kubelet_(std::move(kubelet)),
      cri_(std::move(cri)),
      pods_(std::move(pods)),
      objects_(std::move(objects)) {}

NodeSources::~NodeSources() = default;

absl::StatusOr<absl::string_view> NodeSources::KubeletPods() {
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

absl::StatusOr<ApiView> NodeSources::ApiParents() {
  LB_ASSIGN_OR_RETURN(absl::string_view text, pods_->List());
  LB_RETURN_IF_ERROR(Annotate(api_.Replace(text), "API server pod list"));
  return ApiView{api_.parents(), api_.version()};
}

absl::StatusOr<Json> NodeSources::GetObject(absl::string_view kind, absl::string_view name) {
  LB_ASSIGN_OR_RETURN(absl::string_view text, objects_->Get(kind == "Secret" ? "secrets" : "configmaps", name));
  return kube::ParseJson(text);
}

}  // namespace lifeboat::checkpoint
