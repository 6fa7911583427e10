// The rules that turn a pod spec from the API into one the kubelet runs as a static pod with no
// API server: kubelets >= 1.34 refuse static pods that reference API objects, and older ones run
// them but the API server rejects their mirror pods. Shared by `recover` and the checkpointer;
// pure (no I/O): the files to write come back as data.
#pragma once

#include <sys/types.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kube/codec.h"

namespace lifeboat::kube {

// What a volume turns into on the host.
struct VolumeSource {
  enum class Kind { kSecret, kConfigMap, kProjected };
  Kind kind;
  std::string volume;  // the volume's name in the pod
  std::string object;  // Secret/ConfigMap name (empty for projected)
  bool has_items = false;
};

// Where a volume's files live: `host_path` is what the pod's hostPath volume names; `out_dir` is
// where the caller writes the files (the same path for the checkpointer, a path inside the
// recovery dir for `recover`).
struct VolumeDir {
  std::string host_path;
  std::string out_dir;
};

// Decides the directory of each materialised volume; must validate names it puts into paths.
using VolumeLayout = std::function<absl::StatusOr<VolumeDir>(const VolumeSource&)>;

// Finds a Secret ("Secret") or ConfigMap ("ConfigMap") of the pod's namespace; nullptr if absent.
using ObjectLookup = std::function<const Json*(absl::string_view kind, absl::string_view name)>;

// A file to write for a static pod.
// The name under which an ObjectLookup supplies the token of a projected serviceAccountToken
// source (kind "ServiceAccountToken", a Json {"token": ...}): "<audience>/<expirationSeconds>",
// with the API's defaults ("" and 3600) for what the projection leaves out.
std::string TokenKey(const Json& service_account_token_projection);

struct HostFile {
  std::string path;  // out_dir / relative path
  std::string data;
  mode_t mode;
};

struct StaticPodSpec {
  Json spec;                       // the rewritten pod spec
  std::vector<HostFile> files;     // files the spec's hostPath volumes expect
  std::vector<std::string> dirs;   // every volume directory (some may hold no file)
  std::vector<std::string> notes;  // things dropped that an operator should know about
};

// The Secrets and ConfigMaps a pod spec references (volumes, projections, env, envFrom),
// so a caller can fetch exactly those.
struct References {
  std::set<std::string> secrets;
  std::set<std::string> config_maps;
};
References ReferencedObjects(const Json& spec);

// Rewrites `spec` for a static pod:
// - serviceAccountName/serviceAccount/imagePullSecrets removed, automountServiceAccountToken false;
// - Secret and ConfigMap volumes become hostPath volumes onto files from `lookup`, honouring
//   items (key -> path) and modes; projected volumes become one hostPath directory holding their
//   secret, configMap and downwardAPI (metadata fields) sources; serviceAccountToken is dropped;
// - env valueFrom secretKeyRef/configMapKeyRef and envFrom become literal values.
// File modes are the volume's mode restricted to the owner (0644 -> 0600).
// Everything else is kept as it is, including what newer Kubernetes added (sidecar init
// containers with restartPolicy Always, image volumes, env from files (fileKeyRef), probes,
// AppArmor, ...): none of it references an API object.
// Errors: NotFound naming every missing non-optional object (all at once); InvalidArgument for
// names or keys that are not safe as paths; FailedPrecondition, naming the volume, for a
// clusterTrustBundle or podCertificate projection (the kubelet fills those only through the
// API server and refuses them in a static pod; callers add which pod).
absl::StatusOr<StaticPodSpec> MakeStaticPodSpec(const Json& pod_metadata, const Json& spec,
                                                const ObjectLookup& lookup,
                                                const VolumeLayout& layout);

// Every way `spec` still references an API object (the kubelet's HasAPIObjectReference rules),
// e.g. "volume \"x\" is a secret volume". Empty means the spec is safe as a static pod.
std::vector<std::string> ApiObjectReferences(const Json& spec);

}  // namespace lifeboat::kube
