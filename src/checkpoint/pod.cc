#include "checkpoint/pod.h"

#include "absl/strings/match.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace lifeboat::checkpoint {
namespace {

const Json* Annotation(const Json& pod, absl::string_view key) {
  auto meta = pod.find("metadata");
  if (meta == pod.end() || !meta->is_object()) return nullptr;
  auto ann = meta->find("annotations");
  if (ann == meta->end() || !ann->is_object()) return nullptr;
  auto it = ann->find(std::string(key));
  return it == ann->end() ? nullptr : &*it;
}

bool AnnotationIs(const Json& pod, absl::string_view key, absl::string_view value) {
  const Json* a = Annotation(pod, key);
  return a != nullptr && a->is_string() && a->get_ref<const std::string&>() == value;
}

}  // namespace

PodId IdOf(const Json& pod) {
  PodId id;
  if (!pod.is_object()) return id;
  auto meta = pod.find("metadata");
  if (meta == pod.end() || !meta->is_object()) return id;
  id.ns = meta->value("namespace", "");
  if (id.ns.empty()) id.ns = "default";
  id.name = meta->value("name", "");
  return id;
}

bool IsParent(const Json& pod) {
  if (!pod.is_object()) return false;
  return AnnotationIs(pod, kCheckpointAnnotation, "true") &&
         !AnnotationIs(pod, kConfigSourceAnnotation, "file") &&
         Annotation(pod, kCheckpointOfAnnotation) == nullptr;
}

std::optional<PodId> CheckpointOf(const Json& pod) {
  if (!pod.is_object()) return std::nullopt;
  const Json* of = Annotation(pod, kCheckpointOfAnnotation);
  if (of == nullptr || !of->is_string()) return std::nullopt;
  PodId id = IdOf(pod);
  if (id.name.empty()) return std::nullopt;
  return id;
}

std::map<PodId, const Json*> SelectParents(const Json& pods, absl::string_view ns) {
  std::map<PodId, const Json*> out;
  if (!pods.is_object()) return out;
  auto items = pods.find("items");
  if (items == pods.end() || !items->is_array()) return out;
  for (const Json& pod : *items) {
    if (!IsParent(pod)) continue;
    PodId id = IdOf(pod);
    if (id.ns != ns || id.name.empty()) continue;
    out.emplace(std::move(id), &pod);
  }
  return out;
}

absl::StatusOr<Json> ParsePodList(absl::string_view text, bool keep_spec) {
  // Depths as the parser reports them: 0 the list, 1 its keys ("items"), 2 each pod, 3 a pod's keys.
  Json::parser_callback_t drop = [keep_spec](int depth, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::key && depth == 3 && parsed.is_string()) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (key == "status" || (!keep_spec && key == "spec")) return false;
    }
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), drop);
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("pod list is not JSON: ", e.what()));
  }
}

PodId SelfId(absl::string_view pod_namespace, absl::string_view pod_name, absl::string_view node_name) {
  // The kubelet lower-cases the node name when it names a static pod.
  std::string suffix = absl::StrCat("-", absl::AsciiStrToLower(node_name));
  absl::string_view name = pod_name;
  if (!node_name.empty() && name.size() > suffix.size() && absl::EndsWith(name, suffix)) {
    name.remove_suffix(suffix.size());
  }
  return PodId{std::string(pod_namespace), std::string(name)};
}

}  // namespace lifeboat::checkpoint
