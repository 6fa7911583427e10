// A fake container runtime for tests: a gRPC server on a unix socket answering the CRI
// RuntimeService calls the checkpointer makes (Version, ListPodSandbox, ListContainers), in
// runtime.v1, runtime.v1alpha2 or both, from pods the test puts in. It can also fail or stall
// every call, to exercise the checkpointer's fail-safe. Test-only (lb_testing_cri).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"

namespace lifeboat::testing {

class FakeCri {
 public:
  enum class Serve { kV1, kV1Alpha2, kBoth };

  // Starts serving on `socket_path` (removed first if it exists).
  static absl::StatusOr<std::unique_ptr<FakeCri>> Start(const std::string& socket_path,
                                                        Serve serve);
  ~FakeCri();

  // A pod with one sandbox (ready or not) and `containers` containers, all running or all exited.
  // Returns the sandbox id.
  std::string AddPod(const std::string& ns, const std::string& name, bool ready = true,
                     int containers = 1, bool running = true);
  void RemovePod(const std::string& ns, const std::string& name);
  void Clear();

  // Every call fails with this gRPC status code (0 = OK: answer normally).
  void FailWith(int grpc_code) { fail_code_ = grpc_code; }
  // Every call waits this long before answering; a new delay (0: none) ends the waits under way.
  void Delay(std::chrono::milliseconds d);

  // Calls seen, by "<package>/<method>", e.g. "runtime.v1/ListPodSandbox".
  int Calls(const std::string& key) const;
  const std::string& endpoint() const { return endpoint_; }

  struct Pod {
    std::string ns, name, uid, sandbox_id;
    bool ready;
    int containers;
    bool running;
  };

 private:
  FakeCri() = default;
  friend struct FakeCriAccess;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string endpoint_;
  std::atomic<int> fail_code_{0};
  std::atomic<long> delay_ms_{0};
  mutable std::mutex mu_;
  std::condition_variable delay_changed_;
  uint64_t delay_generation_ = 0;    // under mu_
  std::map<std::string, Pod> pods_;  // by ns/name
  std::map<std::string, int> calls_;
  int next_id_ = 1;
};

}  // namespace lifeboat::testing
