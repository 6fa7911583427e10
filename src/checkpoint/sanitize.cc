#include "checkpoint/sanitize.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status.h"
#include "kube/names.h"

namespace lifeboat::checkpoint {
namespace {


// The explicit runAsUser values of the pod and its containers, and its fsGroup.
absl::Status Ownership(const PodId& id, const Json& spec, uid_t& uid, gid_t& gid) {
  std::set<int64_t> users;
  auto collect = [&](const Json& security_context) {
    const Json& u = kube::Member(security_context, "runAsUser");
    if (u.is_number_integer()) users.insert(u.get<int64_t>());
  };
  collect(kube::Member(spec, "securityContext"));
  for (const char* list : {"initContainers", "containers"}) {
    for (const Json& c : kube::Member(spec, list)) collect(kube::Member(c, "securityContext"));
  }
  if (users.size() > 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "pod ", id.String(), " sets conflicting runAsUser values (", absl::StrJoin(users, ", "),
        "): cannot choose one owner for its checkpointed Secret and ConfigMap files"));
  }
  for (int64_t u : users) {
    if (u < 0) return absl::InvalidArgumentError(absl::StrCat("pod ", id.String(), ": negative runAsUser"));
    uid = static_cast<uid_t>(u);
  }
  const Json& g = kube::Member(kube::Member(spec, "securityContext"), "fsGroup");
  if (g.is_number_integer()) {
    if (g.get<int64_t>() < 0) {
      return absl::InvalidArgumentError(absl::StrCat("pod ", id.String(), ": negative fsGroup"));
    }
    gid = static_cast<gid_t>(g.get<int64_t>());
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Checkpoint> MakeCheckpoint(const Json& parent, const kube::ObjectLookup& lookup,
                                          const Layout& layout) {
  Checkpoint cp;
  cp.id = IdOf(parent);
  LB_RETURN_IF_ERROR(kube::ValidateObjectName("pod namespace", cp.id.ns));
  LB_RETURN_IF_ERROR(kube::ValidateObjectName("pod name", cp.id.name));
  const Json& meta = kube::Member(parent, "metadata");
  const Json& spec = kube::Member(parent, "spec");
  if (!spec.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("pod ", cp.id.String(), " has no spec"));
  }
  LB_RETURN_IF_ERROR(Ownership(cp.id, spec, cp.uid, cp.gid));

  const std::filesystem::path secrets = layout.SecretsDir(cp.id);
  const std::filesystem::path configmaps = layout.ConfigMapsDir(cp.id);
  kube::VolumeLayout volume_layout = [&](const kube::VolumeSource& s) -> absl::StatusOr<kube::VolumeDir> {
    std::filesystem::path dir;
    switch (s.kind) {
      case kube::VolumeSource::Kind::kSecret:
        LB_RETURN_IF_ERROR(kube::ValidateObjectName("secret", s.object));
        dir = secrets / s.object;
        break;
      case kube::VolumeSource::Kind::kConfigMap:
        LB_RETURN_IF_ERROR(kube::ValidateObjectName("configmap", s.object));
        dir = configmaps / s.object;
        break;
      case kube::VolumeSource::Kind::kProjected:
        LB_RETURN_IF_ERROR(kube::ValidateObjectName("volume", s.volume));
        dir = secrets / kProjectedDir / s.volume;
        break;
    }
    return kube::VolumeDir{dir.string(), dir.string()};
  };
  Json static_meta = {{"name", cp.id.name}, {"namespace", cp.id.ns}};
  if (kube::Member(meta, "labels").is_object() && !kube::Member(meta, "labels").empty()) {
    static_meta["labels"] = meta["labels"];
  }
  // Downward-API files see the pod as it runs from the checkpoint.
  static_meta["annotations"] = {{std::string(kCheckpointOfAnnotation), cp.id.name}};
  auto made = kube::MakeStaticPodSpec(static_meta, spec, lookup, volume_layout);
  if (!made.ok()) return Annotate(made.status(), absl::StrCat("checkpoint of pod ", cp.id.String()));
  kube::StaticPodSpec sp = *std::move(made);

  sp.spec.erase("affinity");
  sp.spec.erase("nodeSelector");
  std::vector<std::string> refs = kube::ApiObjectReferences(sp.spec);
  if (!refs.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "checkpoint of pod ", cp.id.String(), " would still reference API objects, which a kubelet "
        "refuses in a static pod: ", absl::StrJoin(refs, "; ")));
  }

  Json owner = {{"apiVersion", "v1"}, {"kind", "Pod"}, {"name", cp.id.name}, {"controller", true}};
  if (kube::Member(meta, "uid").is_string()) owner["uid"] = meta["uid"];
  static_meta["ownerReferences"] = Json::array({owner});
  cp.pod = {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", std::move(static_meta)},
            {"spec", std::move(sp.spec)}};
  cp.manifest = kube::ToPrettyJson(cp.pod);
  cp.files = std::move(sp.files);
  cp.dirs = std::move(sp.dirs);
  cp.notes = std::move(sp.notes);
  return cp;
}

}  // namespace lifeboat::checkpoint
