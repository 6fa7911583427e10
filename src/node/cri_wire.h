// Protobuf wire encoding of the few CRI RuntimeService messages the checkpointer exchanges
// (Version, ListPodSandbox, ListContainers), written by hand so that the checkpointer links
// neither libprotobuf nor gRPC: the two together cost ~7 MiB of its 8 MiB resident budget.
//
// Field numbers are those of proto/cri/runtime_v1.proto, which runtime_v1alpha2.proto mirrors,
// so one codec serves both API versions. Decoders are defensive: every length is bounds-checked,
// unknown fields of every wire type are skipped (runtimes add fields all the time), truncated or
// overlong varints and impossible wire types are errors, never a crash or an out-of-bounds read.
// They keep only what RuntimeSnapshot and RuntimeVersion need: label maps are scanned for the
// kubelet's few keys and otherwise never copied, annotations and images are skipped.
//
// Pure: no I/O. cri_wire_test.cc checks it against the generated protobuf classes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace lifeboat::node::cri_wire {

// PodSandboxState and ContainerState (the same numbers in runtime.v1 and runtime.v1alpha2).
inline constexpr int32_t kSandboxReady = 0;
inline constexpr int32_t kSandboxNotReady = 1;
inline constexpr int32_t kContainerCreated = 0;
inline constexpr int32_t kContainerRunning = 1;
inline constexpr int32_t kContainerExited = 2;
inline constexpr int32_t kContainerUnknown = 3;

// VersionRequest{version}.
std::string EncodeVersionRequest(std::string_view version);
// ListPodSandboxRequest{filter: {state: {state}}}: only sandboxes in `state`.
std::string EncodeListPodSandboxRequest(int32_t state);
// ListContainersRequest{filter: {state: {state}}}: only containers in `state`.
std::string EncodeListContainersRequest(int32_t state);

struct VersionResponse {
  std::string version;
  std::string runtime_name;
  std::string runtime_version;
  std::string runtime_api_version;
};

// What we keep of a PodSandbox.
struct PodSandbox {
  std::string id;
  std::string name, uid, ns;  // metadata
  int32_t state = kSandboxReady;
  // The kubelet's labels io.kubernetes.pod.{name,namespace,uid}; "" when absent.
  std::string label_pod_name, label_pod_namespace, label_pod_uid;
};

// What we keep of a Container.
struct Container {
  std::string id;
  std::string pod_sandbox_id;
  std::string name;  // metadata
  int32_t state = kContainerCreated;
  // The kubelet's labels io.kubernetes.pod.{name,namespace} and io.kubernetes.container.name.
  std::string label_pod_name, label_pod_namespace, label_container_name;
};

// Each returns the decoded message, or Internal (what gRPC reports for a response it cannot
// parse) naming the message, the problem and its byte offset. Not worth retrying as such:
// the runtime sent bytes that are not the message.
absl::StatusOr<VersionResponse> DecodeVersionResponse(std::string_view bytes);
absl::StatusOr<std::vector<PodSandbox>> DecodeListPodSandboxResponse(std::string_view bytes);
absl::StatusOr<std::vector<Container>> DecodeListContainersResponse(std::string_view bytes);

}  // namespace lifeboat::node::cri_wire
