// Client of the container runtime's CRI RuntimeService over its unix socket: which pods have a
// ready sandbox and running containers. Speaks runtime.v1 and falls back to runtime.v1alpha2
// when the runtime answers v1 with Unimplemented (containerd < 1.6 and the 1.20 test bed only
// speak v1alpha2; containerd 2.0 and CRI-O 1.26 only v1). Every call has a deadline.
//
// It speaks gRPC itself rather than through gRPC C++: HTTP/2 cleartext over the unix socket with
// libnghttp2, the messages hand-encoded by cri_wire.h. gRPC C++ and libprotobuf would cost the
// checkpointer ~7 MiB of its 8 MiB resident budget and several threads; three unary calls a tick
// need neither. One connection is kept and reused, and replaced on the next call after an error
// or a GOAWAY, with no reconnect backoff.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace lifeboat::node {

// The kubelet's labels on sandboxes and containers.
inline constexpr const char* kPodNameLabel = "io.kubernetes.pod.name";
inline constexpr const char* kPodNamespaceLabel = "io.kubernetes.pod.namespace";
inline constexpr const char* kPodUidLabel = "io.kubernetes.pod.uid";
inline constexpr const char* kContainerNameLabel = "io.kubernetes.container.name";

struct CriOptions {
  // unix:///run/containerd/containerd.sock, or a bare absolute socket path.
  std::string endpoint;
  // Deadline of each call (upstream's --runtime-request-timeout).
  std::chrono::milliseconds timeout{std::chrono::minutes(2)};
};

struct RuntimeVersion {
  std::string api;  // "runtime.v1" or "runtime.v1alpha2": what we negotiated
  std::string runtime_name;
  std::string runtime_version;
  std::string runtime_api_version;
};

struct Sandbox {
  std::string id;
  std::string ns, pod, uid;  // from the kubelet's labels
  bool ready = false;
};

struct Container {
  std::string id;
  std::string sandbox_id;
  std::string ns, pod, name;  // from the kubelet's labels
  bool running = false;
};

// READY sandboxes and RUNNING containers.
struct RuntimeSnapshot {
  std::vector<Sandbox> sandboxes;
  std::vector<Container> containers;
};

// Pods (namespace, name) that have a ready sandbox with at least one running container in it.
std::set<std::pair<std::string, std::string>> RunningPods(const RuntimeSnapshot& snapshot);

class CriClient {
 public:
  // No I/O: the connection is made and the version negotiated on the first call.
  static absl::StatusOr<std::unique_ptr<CriClient>> Create(const CriOptions& options);
  ~CriClient();

  // Negotiates (v1, then v1alpha2) and returns the runtime's version. Unavailable when the
  // socket cannot be reached, DeadlineExceeded on timeout: both worth retrying.
  absl::StatusOr<RuntimeVersion> Version();

  // Ready sandboxes and running containers. Re-negotiates when the runtime stops answering
  // the version in use (a runtime upgraded under us).
  absl::StatusOr<RuntimeSnapshot> ListRunning();

  // The version in use, "" before the first successful call.
  std::string api() const;

  // The gRPC target the endpoint maps to ("unix:///path"), as a gRPC client would name it.
  static absl::StatusOr<std::string> Target(const std::string& endpoint);

 private:
  CriClient() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lifeboat::node
