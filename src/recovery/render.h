// Rendering of a temporary bootstrap control plane from the self-hosted one (DESIGN §3).
// Pure: objects in, files out. `recover` is fetch -> Render -> WriteAssetDir.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kube/codec.h"

namespace lifeboat::recovery {

using kube::Json;

// The control plane as read from a cluster: the selected DaemonSets/Deployments (each with
// "kind" set) of namespace `ns` and the Secrets/ConfigMaps they reference that exist, by name.
struct ClusterObjects {
  std::string ns = "kube-system";  // where they were looked for (for messages)
  std::vector<Json> workloads;
  std::map<std::string, Json> secrets;
  std::map<std::string, Json> config_maps;
};

struct AssetFile {
  std::string data;
  mode_t mode;
};

// Files relative to the recovery dir, e.g. "bootstrap-manifests/bootstrap-kube-apiserver.yaml".
struct AssetSet {
  std::map<std::string, AssetFile> files;
  std::vector<std::string> dirs;   // directories that must exist even if empty
  std::vector<std::string> notes;  // things an operator should know (dropped fields, ...)
};

// The components a bootstrap control plane consists of.
inline constexpr const char* kControlPlaneApps[] = {"kube-apiserver", "kube-controller-manager",
                                                    "kube-scheduler"};

// True when a DaemonSet/Deployment is part of the control plane: label `k8s-app` (or, on old
// clusters, `component`) is kube-apiserver, kube-controller-manager or kube-scheduler.
bool IsControlPlane(const Json& workload);

// Renders the bootstrap pods and their Secret/ConfigMap files. `kubeconfig` is written to
// auth/kubeconfig. Fails with NotFound naming every missing referenced object, or
// FailedPrecondition when no control-plane component was found.
absl::StatusOr<AssetSet> Render(const ClusterObjects& objects, const std::string& kubeconfig);

}  // namespace lifeboat::recovery
