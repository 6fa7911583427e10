#include <csignal>
#include <iostream>

#include "absl/strings/match.h"
#include "base/log.h"
#include "bootstrap/start.h"
#include "cli/commands.h"
#include "cli/duration.h"

namespace lifeboat::cli {
namespace {

std::atomic<bool> g_cancelled{false};
std::atomic<int> g_signal{0};

void OnSignal(int sig) {
  g_signal = sig;
  g_cancelled = true;
}

}  // namespace

Runner AddStartCommand(CLI::App& app) {
  auto o = std::make_shared<bootstrap::StartOptions>();
  auto required = std::make_shared<std::vector<std::string>>(o->required_pods);
  auto timeout = std::make_shared<std::string>("20m");
  app.footer(
      "Runs the bootstrap control plane of --asset-dir (from `lifeboat recover`) as static pods,\n"
      "creates <asset-dir>/manifests if present, waits until the self-hosted control plane runs,\n"
      "then removes every file it placed. Teardown also runs on failure, timeout, SIGINT and SIGTERM.\n");
  app.add_option("--asset-dir", o->asset_dir, "Directory written by `lifeboat recover` (or bootkube render)")
      ->required();
  app.add_option("--pod-manifest-path", o->pod_manifest_path, "The kubelet's static pod directory")
      ->capture_default_str();
  app.add_flag("--strict", o->strict, "Stop at the first manifest that cannot be read or created");
  app.add_option("--required-pods", *required,
                 "namespace/name-prefix of pods that must be Running before the bootstrap control "
                 "plane is removed (comma-separated or repeated)")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--bootstrap-secrets-dir", o->bootstrap_secrets_dir,
                 "Where the bootstrap pods' hostPath volumes expect the asset dir's tls/")
      ->capture_default_str();
  app.add_option("--timeout", *timeout, "How long to wait for the API server and the required pods (e.g. 20m, 90s)")
      ->capture_default_str()
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  return [o, required, timeout] {
    auto t = ParseDuration(*timeout);
    if (!t.ok()) {
      std::cerr << "--timeout: " << t.status().message() << std::endl;
      return kExitUsage;
    }
    o->timeout = std::chrono::duration_cast<std::chrono::seconds>(*t);
    o->required_pods = *required;
    struct sigaction sa {};
    sa.sa_handler = OnSignal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    absl::Status st = bootstrap::Start(*o, std::cout, g_cancelled);
    if (absl::IsCancelled(st)) {
      LOG_ERROR("start interrupted by {}; the bootstrap control plane was torn down",
                g_signal == SIGINT ? "SIGINT" : "SIGTERM");
      return kExitFailure;
    }
    if (absl::IsInvalidArgument(st) && absl::StrContains(st.message(), "--required-pods")) {
      std::cerr << st.message() << std::endl;
      return kExitUsage;
    }
    if (!st.ok()) {
      LOG_ERROR("start failed: {}", std::string(st.message()));
      return kExitFailure;
    }
    return kExitOk;
  };
}

}  // namespace lifeboat::cli
