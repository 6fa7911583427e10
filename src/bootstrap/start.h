// `start`: runs the bootstrap control plane of an asset dir (from `recover`, or for a new
// cluster) as static pods until the self-hosted control plane is back, then removes it
// (DESIGN §4). Teardown always runs: on success, failure, timeout and cancellation.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace lifeboat::bootstrap {

struct StartOptions {
  std::filesystem::path asset_dir;
  std::filesystem::path pod_manifest_path = "/etc/kubernetes/manifests";
  std::filesystem::path bootstrap_secrets_dir = "/etc/kubernetes/bootstrap-secrets";
  bool strict = false;
  // "namespace/name-prefix" entries that must have a Running pod.
  std::vector<std::string> required_pods = {"kube-system/pod-checkpointer", "kube-system/kube-apiserver",
                                            "kube-system/kube-scheduler",
                                            "kube-system/kube-controller-manager"};
  std::chrono::seconds timeout{20 * 60};      // for the API server and the required pods together
  std::chrono::milliseconds poll_interval{1000};
};

// Runs the whole sequence, printing progress to `out`. `cancelled` is polled while waiting
// (set it from a signal handler); a cancelled run tears down and returns Cancelled.
// Errors: InvalidArgument for a bad asset dir or required-pods entry; AlreadyExists when a
// bootstrap manifest would overwrite a file; DeadlineExceeded naming what never became ready;
// the first creation failure with --strict.
absl::Status Start(const StartOptions& options, std::ostream& out, const std::atomic<bool>& cancelled);

}  // namespace lifeboat::bootstrap
