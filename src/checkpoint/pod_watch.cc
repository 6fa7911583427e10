#include "checkpoint/pod_watch.h"

#include "absl/strings/str_cat.h"

namespace lifeboat::checkpoint {

void ParentWatch::Set(std::shared_ptr<const ParentMap> parents) {
  parents_ = std::move(parents);
  ++version_;
}

absl::Status ParentWatch::Replace(absl::string_view list_text) {
  absl::string_view metadata;
  auto items = SplitListItems(list_text, &metadata);
  if (!items.ok()) return items.status();
  auto parents = std::make_shared<ParentMap>();
  for (absl::string_view item : *items) {
    auto parent = ParseParent(item, ns_, /*keep_text=*/true);
    if (!parent.ok()) return parent.status();
    if (parent->has_value()) parents->insert(**parent);
  }
  std::string rv;
  if (!metadata.empty()) {
    auto meta = kube::ParseJson(metadata);
    if (!meta.ok()) return absl::InvalidArgumentError("pod list: metadata is not JSON");
    rv = meta->value("resourceVersion", "");
  }
  rv_ = std::move(rv);
  bool same = parents->size() == parents_->size();
  for (auto a = parents->cbegin(), b = parents_->cbegin(); same && a != parents->cend(); ++a, ++b) {
    same = a->first == b->first && a->second->spec_hash == b->second->spec_hash;
  }
  if (!same || version_ == 0) Set(std::move(parents));
  return absl::OkStatus();
}

absl::Status ParentWatch::Apply(absl::string_view event_text) {
  // The object's status is most of a pod's bytes and never needed: dropped while parsing.
  Json::parser_callback_t drop = [](int depth, Json::parse_event_t event, Json& parsed) {
    return !(event == Json::parse_event_t::key && depth == 2 && parsed.is_string() &&
             parsed.get_ref<const std::string&>() == "status");
  };
  Json ev;
  try {
    ev = Json::parse(event_text.begin(), event_text.end(), drop);
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("watch event is not JSON: ", e.what()));
  }
  if (!ev.is_object() || !ev.contains("type") || !ev["type"].is_string() ||
      !ev.contains("object") || !ev["object"].is_object()) {
    return absl::InvalidArgumentError("watch event without type or object");
  }
  const std::string type = ev["type"].get<std::string>();
  Json& obj = ev["object"];
  if (type == "ERROR") {
    int code = obj.value("code", 0);
    std::string msg =
        absl::StrCat("watch ended by the API server: ", obj.value("message", "(no message)"), " (",
                     obj.value("reason", ""), ", code ", code, ")");
    if (code == 410) return absl::OutOfRangeError(msg);
    return absl::UnavailableError(msg);
  }
  if (!obj.contains("metadata") || !obj["metadata"].is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("watch event ", type, " without metadata"));
  }
  std::string rv = obj["metadata"].value("resourceVersion", "");
  if (type == "BOOKMARK") {
    if (!rv.empty()) rv_ = std::move(rv);
    return absl::OkStatus();
  }
  if (type != "ADDED" && type != "MODIFIED" && type != "DELETED") {
    return absl::InvalidArgumentError(absl::StrCat("unknown watch event type ", type));
  }
  PodId id = IdOf(obj);
  std::optional<std::pair<PodId, std::shared_ptr<const Parent>>> parent;
  if (type != "DELETED") parent = MakeParent(obj, ns_, /*keep_text=*/true);
  auto it = parents_->find(id);
  if (parent.has_value()) {
    // Status updates (most events) change neither the spec nor the labels: nothing to do.
    if (it == parents_->end() || it->second->spec_hash != parent->second->spec_hash) {
      auto next = std::make_shared<ParentMap>(*parents_);
      (*next)[id] = parent->second;
      Set(std::move(next));
    }
  } else if (it != parents_->end()) {
    auto next = std::make_shared<ParentMap>(*parents_);
    next->erase(id);
    Set(std::move(next));
  }
  if (!rv.empty()) rv_ = std::move(rv);
  return absl::OkStatus();
}

}  // namespace lifeboat::checkpoint
