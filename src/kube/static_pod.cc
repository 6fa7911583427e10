#include "kube/static_pod.h"

#include <filesystem>
#include <map>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status.h"
#include "kube/names.h"

namespace lifeboat::kube {
namespace {

constexpr int kDefaultVolumeMode = 0644;
constexpr const char* kContainerLists[] = {"initContainers", "containers", "ephemeralContainers"};

std::string Str(const Json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}
bool Bool(const Json& obj, const char* key) {
  if (!obj.is_object()) return false;
  auto it = obj.find(key);
  return it != obj.end() && it->is_boolean() && it->get<bool>();
}
const Json& Get(const Json& obj, const char* key) {
  static const Json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

// The decoded key -> bytes of a Secret or ConfigMap.
absl::StatusOr<std::map<std::string, std::string>> ObjectData(absl::string_view kind, const Json& obj) {
  std::map<std::string, std::string> out;
  std::string name = Str(Get(obj, "metadata"), "name");
  auto decode_b64 = [&](const char* field) -> absl::Status {
    for (auto& [k, v] : Get(obj, field).items()) {
      std::string bytes;
      if (!v.is_string() || !absl::Base64Unescape(v.get<std::string>(), &bytes)) {
        return absl::InvalidArgumentError(
            absl::StrCat(kind, " ", name, ": key ", k, " is not valid base64"));
      }
      out[k] = std::move(bytes);
    }
    return absl::OkStatus();
  };
  if (kind == "Secret") {
    LB_RETURN_IF_ERROR(decode_b64("data"));
  } else {
    for (auto& [k, v] : Get(obj, "data").items()) {
      if (v.is_string()) out[k] = v.get<std::string>();
    }
    LB_RETURN_IF_ERROR(decode_b64("binaryData"));
  }
  return out;
}

// Collects what a rewrite needs and what it could not find.
class Rewriter {
 public:
  Rewriter(const Json& metadata, const ObjectLookup& lookup, const VolumeLayout& layout)
      : metadata_(metadata), lookup_(lookup), layout_(layout) {}

  // Data of a referenced object; nullopt (and a record of it) when missing and not optional.
  absl::StatusOr<const std::map<std::string, std::string>*> Data(absl::string_view kind,
                                                                 const std::string& name,
                                                                 bool optional) {
    std::string id = absl::StrCat(kind, " ", Str(metadata_, "namespace"), "/", name);
    auto cached = cache_.find(id);
    if (cached != cache_.end()) return &cached->second;
    const Json* obj = lookup_(kind, name);
    if (obj == nullptr) {
      if (!optional) missing_.insert(id);
      return nullptr;
    }
    LB_ASSIGN_OR_RETURN(auto data, ObjectData(kind, *obj));
    return &cache_.emplace(id, std::move(data)).first->second;
  }

  void MissingKey(absl::string_view kind, const std::string& name, const std::string& key) {
    missing_.insert(absl::StrCat("key \"", key, "\" of ", kind, " ", Str(metadata_, "namespace"), "/", name));
  }

  // Adds the files of a secret/configMap source (volume or projection) under `dir`.
  absl::Status AddObjectFiles(absl::string_view kind, const Json& src, const std::string& name,
                              const std::string& dir, int default_mode, StaticPodSpec& out) {
    bool optional = Bool(src, "optional");
    LB_RETURN_IF_ERROR(ValidateObjectName(kind == "Secret" ? "secret" : "configmap", name));
    LB_ASSIGN_OR_RETURN(auto* data, Data(kind, name, optional));
    if (data == nullptr) return absl::OkStatus();
    const Json& items = Get(src, "items");
    if (items.is_array() && !items.empty()) {
      for (const auto& item : items) {
        std::string key = Str(item, "key"), path = Str(item, "path");
        LB_RETURN_IF_ERROR(ValidateDataKey(key));
        LB_RETURN_IF_ERROR(ValidateRelativePath(path));
        auto it = data->find(key);
        if (it == data->end()) {
          if (!optional) MissingKey(kind, name, key);
          continue;
        }
        int mode = item.contains("mode") && item["mode"].is_number_integer() ? item["mode"].get<int>()
                                                                            : default_mode;
        Add(out, dir, path, it->second, mode);
      }
    } else {
      for (const auto& [key, value] : *data) {
        LB_RETURN_IF_ERROR(ValidateDataKey(key));
        Add(out, dir, key, value, default_mode);
      }
    }
    return absl::OkStatus();
  }

  // A downwardAPI item whose value is fixed by the pod's metadata.
  absl::Status AddDownwardFile(const Json& item, const std::string& dir, int default_mode,
                               StaticPodSpec& out) {
    std::string path = Str(item, "path");
    LB_RETURN_IF_ERROR(ValidateRelativePath(path));
    std::string field = Str(Get(item, "fieldRef"), "fieldPath");
    int mode = item.contains("mode") && item["mode"].is_number_integer() ? item["mode"].get<int>()
                                                                        : default_mode;
    auto format_map = [](const Json& m) {
      std::string text;
      for (auto& [k, v] : m.items()) {
        if (!text.empty()) text += "\n";
        text += absl::StrCat(k, "=", Json(v.is_string() ? v.get<std::string>() : v.dump()).dump());
      }
      return text;
    };
    auto subscript = [&](absl::string_view prefix) -> std::optional<std::string> {
      if (!absl::StartsWith(field, prefix) || !absl::EndsWith(field, "']")) return std::nullopt;
      return field.substr(prefix.size(), field.size() - prefix.size() - 2);
    };
    std::optional<std::string> value;
    if (field == "metadata.name") value = Str(metadata_, "name");
    if (field == "metadata.namespace") value = Str(metadata_, "namespace");
    if (field == "metadata.labels") value = format_map(Get(metadata_, "labels"));
    if (field == "metadata.annotations") value = format_map(Get(metadata_, "annotations"));
    if (auto key = subscript("metadata.labels['")) value = Str(Get(metadata_, "labels"), key->c_str());
    if (auto key = subscript("metadata.annotations['")) {
      value = Str(Get(metadata_, "annotations"), key->c_str());
    }
    if (!value) {
      out.notes.push_back(absl::StrCat("downwardAPI item \"", path, "\" (",
                                       field.empty() ? "resourceFieldRef" : field,
                                       ") has no static value and was dropped"));
      return absl::OkStatus();
    }
    Add(out, dir, path, *value, mode);
    return absl::OkStatus();
  }

  absl::Status RewriteVolume(Json& volume, StaticPodSpec& out) {
    std::string vname = Str(volume, "name");
    VolumeSource source;
    source.volume = vname;
    const Json* src = nullptr;
    if (volume.contains("secret")) {
      src = &volume["secret"];
      source.kind = VolumeSource::Kind::kSecret;
      source.object = Str(*src, "secretName");
    } else if (volume.contains("configMap")) {
      src = &volume["configMap"];
      source.kind = VolumeSource::Kind::kConfigMap;
      source.object = Str(*src, "name");
    } else if (volume.contains("projected")) {
      src = &volume["projected"];
      source.kind = VolumeSource::Kind::kProjected;
    } else {
      return absl::OkStatus();
    }
    source.has_items = Get(*src, "items").is_array() && !Get(*src, "items").empty();
    if (source.kind != VolumeSource::Kind::kProjected) {
      LB_RETURN_IF_ERROR(ValidateObjectName(
          source.kind == VolumeSource::Kind::kSecret ? "secret" : "configmap", source.object));
    }
    LB_ASSIGN_OR_RETURN(VolumeDir dir, layout_(source));
    int default_mode = Get(*src, "defaultMode").is_number_integer() ? (*src)["defaultMode"].get<int>()
                                                                    : kDefaultVolumeMode;
    out.dirs.push_back(dir.out_dir);
    switch (source.kind) {
      case VolumeSource::Kind::kSecret:
        LB_RETURN_IF_ERROR(AddObjectFiles("Secret", *src, source.object, dir.out_dir, default_mode, out));
        break;
      case VolumeSource::Kind::kConfigMap:
        LB_RETURN_IF_ERROR(AddObjectFiles("ConfigMap", *src, source.object, dir.out_dir, default_mode, out));
        break;
      case VolumeSource::Kind::kProjected:
        for (const auto& proj : Get(*src, "sources")) {
          if (proj.contains("secret")) {
            LB_RETURN_IF_ERROR(AddObjectFiles("Secret", proj["secret"], Str(proj["secret"], "name"),
                                              dir.out_dir, default_mode, out));
          } else if (proj.contains("configMap")) {
            LB_RETURN_IF_ERROR(AddObjectFiles("ConfigMap", proj["configMap"],
                                              Str(proj["configMap"], "name"), dir.out_dir,
                                              default_mode, out));
          } else if (proj.contains("downwardAPI")) {
            for (const auto& item : Get(proj["downwardAPI"], "items")) {
              LB_RETURN_IF_ERROR(AddDownwardFile(item, dir.out_dir, default_mode, out));
            }
          } else if (proj.contains("clusterTrustBundle") || proj.contains("podCertificate")) {
            // The kubelet fills these through the API server (ClusterTrustBundle objects, pod
            // certificate requests) and refuses them in static pods; there is no file to write.
            bool bundle = proj.contains("clusterTrustBundle");
            return absl::FailedPreconditionError(absl::StrCat(
                "volume \"", vname, "\" projects a ",
                bundle ? "clusterTrustBundle" : "podCertificate",
                ", which the kubelet can only fill through the API server (kubelets >= 1.34 "
                "refuse a static pod that has one): change the ",
                bundle ? "projection to a configMap or secret source holding the CA bundle"
                       : "projection to a secret source holding the certificate and key",
                " before recovering, or restore the API server another way"));
          } else if (proj.contains("serviceAccountToken")) {
            // A static pod has no service account; a caller that requested a token for the
            // parent's (the checkpointer) supplies it as kind ServiceAccountToken, name
            // TokenKey(): it becomes a file like any other (0600).
            const Json& sat = proj["serviceAccountToken"];
            std::string path = Str(sat, "path");
            const Json* token = lookup_("ServiceAccountToken", TokenKey(sat));
            if (token != nullptr && token->contains("token") && !path.empty()) {
              LB_RETURN_IF_ERROR(ValidateRelativePath(path));
              Add(out, dir.out_dir, path, (*token)["token"].get<std::string>(), 0600);
            } else {
              out.notes.push_back(absl::StrCat("volume \"", vname,
                                               "\": service account token projection dropped "
                                               "(a static pod has no service account)"));
            }
          } else {
            out.notes.push_back(absl::StrCat("volume \"", vname, "\": unsupported projection dropped: ",
                                             proj.dump()));
          }
        }
        break;
    }
    volume = Json{{"name", vname}, {"hostPath", {{"path", dir.host_path}}}};
    return absl::OkStatus();
  }

  absl::Status RewriteEnv(Json& container) {
    Json env = Json::array();
    std::set<std::string> explicit_names;
    for (const auto& e : Get(container, "env")) explicit_names.insert(Str(e, "name"));
    // envFrom first (later sources win), then env, which overrides both: the kubelet's order.
    std::map<std::string, std::string> from;
    std::vector<std::string> from_order;
    for (const auto& source : Get(container, "envFrom")) {
      std::string prefix = Str(source, "prefix");
      bool is_secret = source.contains("secretRef");
      const Json& ref = is_secret ? source["secretRef"] : Get(source, "configMapRef");
      std::string name = Str(ref, "name");
      LB_RETURN_IF_ERROR(ValidateObjectName(is_secret ? "secret" : "configmap", name));
      LB_ASSIGN_OR_RETURN(auto* data, Data(is_secret ? "Secret" : "ConfigMap", name, Bool(ref, "optional")));
      if (data == nullptr) continue;
      for (const auto& [k, v] : *data) {
        std::string var = prefix + k;
        if (!from.count(var)) from_order.push_back(var);
        from[var] = v;
      }
    }
    std::sort(from_order.begin(), from_order.end());
    for (const auto& var : from_order) {
      if (!explicit_names.count(var)) env.push_back({{"name", var}, {"value", from[var]}});
    }
    for (auto e : Get(container, "env")) {
      const Json& value_from = Get(e, "valueFrom");
      const char* which = value_from.contains("secretKeyRef")      ? "secretKeyRef"
                          : value_from.contains("configMapKeyRef") ? "configMapKeyRef"
                                                                   : nullptr;
      if (which != nullptr) {
        const Json& ref = value_from[which];
        absl::string_view kind = absl::string_view(which) == "secretKeyRef" ? "Secret" : "ConfigMap";
        std::string name = Str(ref, "name"), key = Str(ref, "key");
        LB_RETURN_IF_ERROR(ValidateObjectName(kind == "Secret" ? "secret" : "configmap", name));
        bool optional = Bool(ref, "optional");
        LB_ASSIGN_OR_RETURN(auto* data, Data(kind, name, optional));
        if (data == nullptr) continue;
        auto it = data->find(key);
        if (it == data->end()) {
          if (!optional) MissingKey(kind, name, key);
          continue;
        }
        e = Json{{"name", Str(e, "name")}, {"value", it->second}};
      }
      env.push_back(std::move(e));
    }
    container.erase("envFrom");
    if (env.empty()) {
      container.erase("env");
    } else {
      container["env"] = std::move(env);
    }
    return absl::OkStatus();
  }

  absl::Status MissingStatus() const {
    if (missing_.empty()) return absl::OkStatus();
    return absl::NotFoundError(absl::StrCat("missing referenced objects: ", absl::StrJoin(missing_, ", ")));
  }

 private:
  void Add(StaticPodSpec& out, const std::string& dir, const std::string& rel, const std::string& data,
           int mode) {
    out.files.push_back({(std::filesystem::path(dir) / rel).string(), data,
                         static_cast<mode_t>(mode & 0700)});
  }

  const Json& metadata_;
  const ObjectLookup& lookup_;
  const VolumeLayout& layout_;
  std::map<std::string, std::map<std::string, std::string>> cache_;
  std::set<std::string> missing_;
};

void CollectEnvRefs(const Json& container, References& refs) {
  for (const auto& e : Get(container, "env")) {
    const Json& vf = Get(e, "valueFrom");
    if (vf.contains("secretKeyRef")) refs.secrets.insert(Str(vf["secretKeyRef"], "name"));
    if (vf.contains("configMapKeyRef")) refs.config_maps.insert(Str(vf["configMapKeyRef"], "name"));
  }
  for (const auto& s : Get(container, "envFrom")) {
    if (s.contains("secretRef")) refs.secrets.insert(Str(s["secretRef"], "name"));
    if (s.contains("configMapRef")) refs.config_maps.insert(Str(s["configMapRef"], "name"));
  }
}

}  // namespace

References ReferencedObjects(const Json& spec) {
  References refs;
  for (const auto& v : Get(spec, "volumes")) {
    if (v.contains("secret")) refs.secrets.insert(Str(v["secret"], "secretName"));
    if (v.contains("configMap")) refs.config_maps.insert(Str(v["configMap"], "name"));
    for (const auto& p : Get(Get(v, "projected"), "sources")) {
      if (p.contains("secret")) refs.secrets.insert(Str(p["secret"], "name"));
      if (p.contains("configMap")) refs.config_maps.insert(Str(p["configMap"], "name"));
    }
  }
  for (const char* list : kContainerLists) {
    for (const auto& c : Get(spec, list)) CollectEnvRefs(c, refs);
  }
  refs.secrets.erase("");
  refs.config_maps.erase("");
  return refs;
}

std::string TokenKey(const Json& service_account_token_projection) {
  const Json& p = service_account_token_projection;
  int64_t seconds = p.contains("expirationSeconds") && p["expirationSeconds"].is_number_integer()
                        ? p["expirationSeconds"].get<int64_t>()
                        : 3600;
  std::string audience = p.contains("audience") && p["audience"].is_string() ? p["audience"].get<std::string>() : "";
  return absl::StrCat(audience, "/", seconds);
}

absl::StatusOr<StaticPodSpec> MakeStaticPodSpec(const Json& pod_metadata, const Json& spec,
                                                const ObjectLookup& lookup,
                                                const VolumeLayout& layout) {
  StaticPodSpec out;
  out.spec = spec;
  Json& s = out.spec;
  if (!s.is_object()) return absl::InvalidArgumentError("pod spec is not an object");
  s.erase("serviceAccountName");
  s.erase("serviceAccount");
  if (s.contains("imagePullSecrets")) {
    out.notes.push_back("imagePullSecrets dropped (a static pod cannot reference Secrets); "
                        "images must already be on the node or pullable without credentials");
    s.erase("imagePullSecrets");
  }
  s["automountServiceAccountToken"] = false;
  Rewriter rewriter(pod_metadata, lookup, layout);
  if (s.contains("volumes")) {
    for (auto& v : s["volumes"]) LB_RETURN_IF_ERROR(rewriter.RewriteVolume(v, out));
  }
  for (const char* list : kContainerLists) {
    if (!s.contains(list)) continue;
    for (auto& c : s[list]) LB_RETURN_IF_ERROR(rewriter.RewriteEnv(c));
  }
  LB_RETURN_IF_ERROR(rewriter.MissingStatus());
  return out;
}

std::vector<std::string> ApiObjectReferences(const Json& spec) {
  std::vector<std::string> refs;
  if (!Str(spec, "serviceAccountName").empty()) refs.push_back("spec.serviceAccountName");
  if (!Str(spec, "serviceAccount").empty()) refs.push_back("spec.serviceAccount");
  if (!Get(spec, "imagePullSecrets").empty()) refs.push_back("spec.imagePullSecrets");
  if (!Get(spec, "resourceClaims").empty()) refs.push_back("spec.resourceClaims");
  static const std::set<std::string> kAllowedVolumes = {
      "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "nfs",
      "iscsi", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "downwardAPI", "fc",
      "vsphereVolume", "quobyte", "photonPersistentDisk", "portworxVolume", "scaleIO", "storageos",
      "projected", "image"};
  for (const auto& v : Get(spec, "volumes")) {
    std::string name = Str(v, "name");
    for (auto& [type, body] : v.items()) {
      if (type == "name") continue;
      if (!kAllowedVolumes.count(type)) {
        refs.push_back(absl::StrCat("volume \"", name, "\" is of type ", type));
      } else if (type == "projected") {
        for (const auto& p : Get(body, "sources")) {
          for (auto& [ptype, _] : p.items()) {
            if (ptype != "downwardAPI") {
              refs.push_back(absl::StrCat("volume \"", name, "\" projects a ", ptype));
            }
          }
        }
      }
    }
  }
  for (const char* list : kContainerLists) {
    for (const auto& c : Get(spec, list)) {
      std::string cname = Str(c, "name");
      for (const auto& e : Get(c, "env")) {
        const Json& vf = Get(e, "valueFrom");
        if (vf.contains("secretKeyRef") || vf.contains("configMapKeyRef")) {
          refs.push_back(absl::StrCat("container \"", cname, "\" env ", Str(e, "name"),
                                      " reads a ", vf.contains("secretKeyRef") ? "Secret" : "ConfigMap"));
        }
      }
      if (!Get(c, "envFrom").empty()) {
        refs.push_back(absl::StrCat("container \"", cname, "\" uses envFrom"));
      }
    }
  }
  return refs;
}

}  // namespace lifeboat::kube
