// Pod identity and parent selection for the pod checkpointer (pure: no I/O).
//
// A *parent* is a pod the operator asked to have checkpointed (annotation
// checkpointer.alpha.coreos.com/checkpoint: "true") that is neither a static pod nor itself a
// checkpoint; its *checkpoint* is the static-pod copy the checkpointer keeps on the node. Both
// share the namespace and name, which is what PodId holds.
#pragma once

#include <compare>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kube/codec.h"

namespace lifeboat::checkpoint {

using kube::Json;

inline constexpr absl::string_view kCheckpointAnnotation = "checkpointer.alpha.coreos.com/checkpoint";
inline constexpr absl::string_view kCheckpointOfAnnotation = "checkpointer.alpha.coreos.com/checkpoint-of";
inline constexpr absl::string_view kConfigSourceAnnotation = "kubernetes.io/config.source";

struct PodId {
  std::string ns;
  std::string name;
  auto operator<=>(const PodId&) const = default;
  bool operator==(const PodId&) const = default;
  // "namespace/name", for messages and metrics.
  std::string String() const { return ns + "/" + name; }
  // "<namespace>-<name>.json": the manifest file name upstream bootkube used too.
  std::string FileName() const { return ns + "-" + name + ".json"; }
};

// metadata.namespace (default "default") and metadata.name of a pod object.
PodId IdOf(const Json& pod);

// True for a pod that asks to be checkpointed: annotation checkpoint == "true", not static
// (config.source "file"), not a checkpoint (no checkpoint-of annotation).
bool IsParent(const Json& pod);

// For a checkpoint manifest read from disk: the parent it belongs to, or nullopt when the pod is
// not a checkpoint (no checkpoint-of annotation; e.g. an unrelated static pod).
std::optional<PodId> CheckpointOf(const Json& pod);

// The parents among `pods` (a PodList's items) that live in `ns`, by id. The checkpointer only
// handles its own namespace: that is where the API server is asked for parents, and all its RBAC
// grants.
std::map<PodId, const Json*> SelectParents(const Json& pods, absl::string_view ns);

// Parses a PodList as JSON text. Pod status is dropped while parsing (the checkpointer never
// needs it, and it is most of the bytes), and so is the spec unless `keep_spec`.
// InvalidArgument when the text is not JSON.
absl::StatusOr<Json> ParsePodList(absl::string_view text, bool keep_spec);

// The checkpointer's own checkpoint id: POD_NAMESPACE and POD_NAME without a "-<NODE_NAME>"
// suffix (the suffix the kubelet adds when the checkpointer itself runs from its checkpoint).
PodId SelfId(absl::string_view pod_namespace, absl::string_view pod_name, absl::string_view node_name);

}  // namespace lifeboat::checkpoint
