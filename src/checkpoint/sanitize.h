// Turning a parent pod into its checkpoint: a static pod the kubelet can run with no API server,
// plus the Secret/ConfigMap files its hostPath volumes point at (pure: the files come back as data
// for the shell to write).
//
// The static-pod rules themselves (service account fields, secret/configMap/projected volumes to
// hostPath, env references resolved, API-reference validation) are kube/static_pod.h's, shared
// with `recover`; this adds what is particular to checkpoints: the on-disk layout, the metadata
// rewrite, dropping scheduling constraints, and file ownership.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "checkpoint/pod.h"
#include "kube/static_pod.h"

namespace lifeboat::checkpoint {

// Where checkpoints live on the node (each root is a flag).
struct Layout {
  std::filesystem::path inactive_dir = "/etc/kubernetes/inactive-manifests";
  std::filesystem::path manifest_dir = "/etc/kubernetes/manifests";
  std::filesystem::path secrets_root = "/etc/kubernetes/checkpoint-secrets";
  std::filesystem::path configmaps_root = "/etc/kubernetes/checkpoint-configmaps";

  std::filesystem::path InactiveManifest(const PodId& id) const { return inactive_dir / id.FileName(); }
  std::filesystem::path ActiveManifest(const PodId& id) const { return manifest_dir / id.FileName(); }
  // <secrets_root>/<ns>/<pod>: every Secret volume of the pod is a directory below, named after
  // the Secret; projected volumes are below kProjectedDir, named after the volume.
  std::filesystem::path SecretsDir(const PodId& id) const { return secrets_root / id.ns / id.name; }
  // <configmaps_root>/<ns>/<pod>: one directory per ConfigMap volume, named after the ConfigMap.
  std::filesystem::path ConfigMapsDir(const PodId& id) const { return configmaps_root / id.ns / id.name; }
};

// The subdirectory of a pod's secrets dir that holds its projected volumes. Object names are
// [a-z0-9.-] only, so no Secret can be called this.
inline constexpr const char* kProjectedDir = "_projected";

struct Checkpoint {
  PodId id;
  Json pod;                            // the static pod
  std::string manifest;                // its file content (deterministic JSON)
  std::vector<kube::HostFile> files;   // absolute paths below SecretsDir/ConfigMapsDir
  std::vector<std::string> dirs;       // every volume directory, even those with no file
  uid_t uid = 0;                       // owner of dirs and files: the pod's runAsUser (root by default)
  gid_t gid = 0;                       // and its fsGroup (root by default)
  std::vector<std::string> notes;      // things dropped that an operator should know about
};

// Builds the checkpoint of `parent` (a pod as the kubelet or API server serves it):
// - metadata: name, namespace and labels kept; annotations replaced by checkpoint-of; an owner
//   reference to the parent (controller: true); status cleared;
// - spec: kube::MakeStaticPodSpec's rules with volumes laid out per `layout`; affinity and
//   nodeSelector removed (constraints a DaemonSet controller injected must not block a
//   node-bound static pod);
// - files owned by runAsUser/fsGroup.
// Errors (all mean "keep the last good checkpoint and report the pod"): InvalidArgument for names
// or keys unsafe as paths; NotFound naming every missing Secret/ConfigMap; FailedPrecondition for
// conflicting runAsUser values or a result that would still reference an API object.
absl::StatusOr<Checkpoint> MakeCheckpoint(const Json& parent, const kube::ObjectLookup& lookup,
                                          const Layout& layout);

}  // namespace lifeboat::checkpoint
