// Test-only (the fake runtime, the wire codec's differential test): the generated runtime.v1 and
// runtime.v1alpha2 types behind one set of names, so the fake is written once as a template over
// the version. The two packages are wire-identical for everything Lifeboat uses. The client itself
// (cri.cc) uses no generated code: see cri_wire.h.
#pragma once

#include "cri/runtime_v1.grpc.pb.h"
#include "cri/runtime_v1alpha2.grpc.pb.h"

namespace lifeboat::node::internal {

#define LB_CRI_API_TYPES(NS)                                                   \
  using Service = NS::RuntimeService;                                          \
  using VersionRequest = NS::VersionRequest;                                   \
  using VersionResponse = NS::VersionResponse;                                 \
  using ListPodSandboxRequest = NS::ListPodSandboxRequest;                     \
  using ListPodSandboxResponse = NS::ListPodSandboxResponse;                   \
  using ListContainersRequest = NS::ListContainersRequest;                     \
  using ListContainersResponse = NS::ListContainersResponse;                   \
  using PodSandbox = NS::PodSandbox;                                           \
  using Container = NS::Container;                                             \
  static constexpr auto kSandboxReady = NS::SANDBOX_READY;                     \
  static constexpr auto kSandboxNotReady = NS::SANDBOX_NOTREADY;               \
  static constexpr auto kContainerCreated = NS::CONTAINER_CREATED;             \
  static constexpr auto kContainerRunning = NS::CONTAINER_RUNNING;             \
  static constexpr auto kContainerExited = NS::CONTAINER_EXITED

struct V1 {
  LB_CRI_API_TYPES(runtime::v1);
  static constexpr const char* kName = "runtime.v1";
};

struct V1Alpha2 {
  LB_CRI_API_TYPES(runtime::v1alpha2);
  static constexpr const char* kName = "runtime.v1alpha2";
};

#undef LB_CRI_API_TYPES

}  // namespace lifeboat::node::internal
