#include "recovery/render.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status.h"
#include "kube/names.h"
#include "kube/static_pod.h"

namespace lifeboat::recovery {
namespace {

constexpr const char* kBootstrapSecretsDir = "/etc/kubernetes/bootstrap-secrets";
constexpr const char* kKubeconfigFlag = "--kubeconfig=/kubeconfig/kubeconfig";

std::string AppOf(const Json& workload) {
  const Json& labels = workload["metadata"].value("labels", Json::object());
  for (const char* label : {"k8s-app", "component"}) {
    if (labels.contains(label) && labels[label].is_string()) {
      std::string app = labels[label];
      for (const char* cp : kControlPlaneApps) {
        if (app == cp) return app;
      }
    }
  }
  return "";
}

void DropRunAsRoot(Json& security_context) {
  if (!security_context.is_object()) return;
  security_context.erase("runAsNonRoot");
  security_context.erase("runAsUser");
  if (security_context.empty()) security_context = nullptr;
}

void EraseNull(Json& obj, const char* key) {
  if (obj.contains(key) && obj[key].is_null()) obj.erase(key);
}

absl::StatusOr<AssetSet> RenderUnchecked(const ClusterObjects& objects, const std::string& kubeconfig);

}  // namespace

bool IsControlPlane(const Json& workload) {
  return workload.is_object() && workload.contains("metadata") && !AppOf(workload).empty();
}

absl::StatusOr<AssetSet> Render(const ClusterObjects& objects, const std::string& kubeconfig) {
  try {
    return RenderUnchecked(objects, kubeconfig);
  } catch (const Json::exception& e) {
    // Objects of an unexpected shape (a field of the wrong type): refuse, never crash.
    return absl::InvalidArgumentError(absl::StrCat("malformed control-plane object: ", e.what()));
  }
}

namespace {

absl::StatusOr<AssetSet> RenderUnchecked(const ClusterObjects& objects, const std::string& kubeconfig) {
  AssetSet out;
  std::vector<std::string> missing;
  std::vector<const Json*> workloads;
  for (const auto& w : objects.workloads) {
    if (IsControlPlane(w)) workloads.push_back(&w);
  }
  if (workloads.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no control plane found: no DaemonSet or Deployment in namespace ", objects.ns,
        " is labelled k8s-app (or component) = kube-apiserver, kube-controller-manager or "
        "kube-scheduler"));
  }
  for (const Json* w : workloads) {
    const Json& meta = w->at("metadata");
    std::string parent = meta.value("name", "");
    std::string ns = meta.value("namespace", "kube-system");
    std::string app = AppOf(*w);
    LB_RETURN_IF_ERROR(kube::ValidateObjectName("workload", parent));
    LB_RETURN_IF_ERROR(kube::ValidateObjectName("namespace", ns));
    std::string name = "bootstrap-" + parent;
    const Json template_spec = w->value("/spec/template/spec"_json_pointer, Json::object());

    Json metadata = {{"name", name}, {"namespace", ns}};
    if (meta.contains("annotations") && meta["annotations"].is_object()) {
      Json annotations = meta["annotations"];
      // It describes the Deployment/DaemonSet, and would make `kubectl apply` misread the pod.
      annotations.erase("kubectl.kubernetes.io/last-applied-configuration");
      if (!annotations.empty()) metadata["annotations"] = std::move(annotations);
    }
    kube::ObjectLookup lookup = [&](absl::string_view kind, absl::string_view obj) -> const Json* {
      const auto& m = kind == "Secret" ? objects.secrets : objects.config_maps;
      auto it = m.find(std::string(obj));
      return it == m.end() ? nullptr : &it->second;
    };
    kube::VolumeLayout layout = [&](const kube::VolumeSource& src) -> absl::StatusOr<kube::VolumeDir> {
      std::string rel;
      if (src.kind == kube::VolumeSource::Kind::kProjected || src.has_items) {
        LB_RETURN_IF_ERROR(kube::ValidateObjectName("volume", src.volume));
        rel = absl::StrCat("volumes/", name, "/", src.volume);
      } else if (src.kind == kube::VolumeSource::Kind::kSecret) {
        rel = absl::StrCat("secrets/", src.object);
      } else {
        rel = absl::StrCat("config-maps/", src.object);
      }
      return kube::VolumeDir{absl::StrCat(kBootstrapSecretsDir, "/", rel), absl::StrCat("tls/", rel)};
    };
    auto spec_or = kube::MakeStaticPodSpec(metadata, template_spec, lookup, layout);
    if (absl::IsNotFound(spec_or.status())) {
      missing.push_back(absl::StrCat(w->value("kind", "workload"), " ", ns, "/", parent, " needs ",
                                     spec_or.status().message()));
      continue;
    }
    LB_RETURN_IF_ERROR(Annotate(spec_or.status(), absl::StrCat(w->value("kind", "workload"), " ", ns, "/", parent)));
    kube::StaticPodSpec& sp = *spec_or;
    Json& spec = sp.spec;

    // Run as root, on the host network.
    if (spec.contains("securityContext")) {
      DropRunAsRoot(spec["securityContext"]);
      EraseNull(spec, "securityContext");
    }
    spec["hostNetwork"] = true;
    bool wants_kubeconfig = app == "kube-controller-manager" || app == "kube-scheduler";
    for (const char* list : {"initContainers", "containers"}) {
      if (!spec.contains(list)) continue;
      for (auto& c : spec[list]) {
        if (c.contains("securityContext")) {
          DropRunAsRoot(c["securityContext"]);
          EraseNull(c, "securityContext");
        }
        // On the host network, declared ports only reserve host ports, which would keep the
        // self-hosted pods that must replace this one from being scheduled or admitted.
        c.erase("ports");
        if (wants_kubeconfig && std::string(list) == "containers") {
          // Append to the command; when only args are set, the image's entrypoint must stay.
          const char* argv = c.contains("command") && !c["command"].empty() ? "command" : "args";
          if (!c.contains(argv)) c[argv] = Json::array();
          c[argv].push_back(kKubeconfigFlag);
          Json mounts = Json::array();
          for (auto& m : c.value("volumeMounts", Json::array())) {
            if (m.value("name", "") != "kubeconfig") mounts.push_back(m);
          }
          mounts.push_back({{"name", "kubeconfig"}, {"mountPath", "/kubeconfig"}, {"readOnly", true}});
          c["volumeMounts"] = std::move(mounts);
        }
      }
    }
    Json volumes = Json::array();
    for (auto& v : spec.value("volumes", Json::array())) {
      if (v.value("name", "") == "kubeconfig") {
        sp.notes.push_back("its own volume \"kubeconfig\" was replaced by the bootstrap kubeconfig");
        continue;
      }
      volumes.push_back(v);
    }
    volumes.push_back({{"name", "kubeconfig"}, {"hostPath", {{"path", "/etc/kubernetes"}}}});
    spec["volumes"] = std::move(volumes);

    std::vector<std::string> refs = kube::ApiObjectReferences(spec);
    if (!refs.empty()) {
      return absl::InternalError(absl::StrCat("bootstrap pod ", name, " would still reference API objects: ",
                                              absl::StrJoin(refs, "; ")));
    }
    Json pod = {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", metadata}, {"spec", spec}};
    // Manifests may carry secret values (resolved env references): owner-only.
    out.files[absl::StrCat("bootstrap-manifests/", name, ".yaml")] = {kube::ToYaml(pod), 0600};
    for (auto& f : sp.files) {
      auto [it, inserted] = out.files.try_emplace(f.path, AssetFile{f.data, f.mode});
      if (!inserted) it->second.mode &= f.mode;  // the same file used twice: the stricter mode
    }
    out.dirs.insert(out.dirs.end(), sp.dirs.begin(), sp.dirs.end());
    for (auto& n : sp.notes) out.notes.push_back(absl::StrCat(name, ": ", n));
  }
  if (!missing.empty()) {
    return absl::NotFoundError(absl::StrJoin(missing, "; "));
  }
  out.files["auth/kubeconfig"] = {kubeconfig, 0600};
  std::sort(out.dirs.begin(), out.dirs.end());
  out.dirs.erase(std::unique(out.dirs.begin(), out.dirs.end()), out.dirs.end());
  return out;
}

}  // namespace
}  // namespace lifeboat::recovery
