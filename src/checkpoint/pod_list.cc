#include "checkpoint/pod_list.h"

#include <array>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"

namespace lifeboat::checkpoint {
namespace {

size_t Hash(absl::string_view s) { return std::hash<std::string_view>()(std::string_view(s.data(), s.size())); }

// Index just past the JSON string starting at text[i] == '"'; npos if unterminated. Strings are
// most of a pod's bytes: jump from quote to quote with memchr.
size_t SkipString(absl::string_view text, size_t i) {
  const char* base = text.data();
  const char* end = base + text.size();
  const char* p = base + i + 1;
  for (;;) {
    const char* q = static_cast<const char*>(memchr(p, '"', end - p));
    if (q == nullptr) return absl::string_view::npos;
    // Escaped when preceded by an odd number of backslashes.
    const char* b = q;
    while (b > p && b[-1] == '\\') --b;
    if ((q - b) % 2 == 0) return static_cast<size_t>(q - base) + 1;
    p = q + 1;
  }
}

// Index just past the JSON value starting at text[i]; npos on unbalanced input.
size_t SkipValue(absl::string_view text, size_t i) {
  if (i >= text.size()) return absl::string_view::npos;
  if (text[i] == '"') return SkipString(text, i);
  if (text[i] != '{' && text[i] != '[') {
    while (i < text.size() && text[i] != ',' && text[i] != '}' && text[i] != ']' &&
           !isspace(static_cast<unsigned char>(text[i]))) {
      ++i;
    }
    return i;
  }
  // Only these bytes matter outside strings.
  static const auto kSpecial = [] {
    std::array<bool, 256> t{};
    for (unsigned char c : {'"', '{', '[', '}', ']'}) t[c] = true;
    return t;
  }();
  int depth = 0;
  const size_t n = text.size();
  while (i < n) {
    while (i < n && !kSpecial[static_cast<unsigned char>(text[i])]) ++i;
    if (i >= n) break;
    char c = text[i];
    if (c == '"') {
      i = SkipString(text, i);
      if (i == absl::string_view::npos) return i;
      continue;
    }
    if (c == '{' || c == '[') {
      ++depth;
    } else if (--depth == 0) {
      return i + 1;
    }
    ++i;
  }
  return absl::string_view::npos;
}

size_t SkipSpace(absl::string_view text, size_t i) {
  while (i < text.size() && isspace(static_cast<unsigned char>(text[i]))) ++i;
  return i;
}

absl::Status Malformed(size_t at) {
  return absl::InvalidArgumentError(absl::StrCat("pod list is not valid JSON (near byte ", at, ")"));
}

}  // namespace

absl::StatusOr<std::vector<absl::string_view>> SplitListItems(absl::string_view text, absl::string_view* metadata) {
  if (metadata != nullptr) *metadata = absl::string_view();
  size_t i = SkipSpace(text, 0);
  if (i >= text.size() || text[i] != '{') return Malformed(i);
  i = SkipSpace(text, i + 1);
  std::optional<std::vector<absl::string_view>> items;
  while (i < text.size() && text[i] != '}') {
    if (text[i] != '"') return Malformed(i);
    size_t key_end = SkipString(text, i);
    if (key_end == absl::string_view::npos) return Malformed(i);
    absl::string_view key = text.substr(i + 1, key_end - i - 2);
    i = SkipSpace(text, key_end);
    if (i >= text.size() || text[i] != ':') return Malformed(i);
    i = SkipSpace(text, i + 1);
    if (key == "items" && i < text.size() && text[i] == '[') {
      items.emplace();
      i = SkipSpace(text, i + 1);
      while (i < text.size() && text[i] != ']') {
        size_t end = SkipValue(text, i);
        if (end == absl::string_view::npos) return Malformed(i);
        items->push_back(text.substr(i, end - i));
        i = SkipSpace(text, end);
        if (i < text.size() && text[i] == ',') i = SkipSpace(text, i + 1);
      }
      if (i >= text.size()) return Malformed(i);
      // Most lists end here; only a caller asking for the metadata needs the rest.
      if (metadata == nullptr || !metadata->empty()) return *std::move(items);
      ++i;
    } else {
      size_t end = SkipValue(text, i);
      if (end == absl::string_view::npos) return Malformed(i);
      if (key == "metadata" && metadata != nullptr) *metadata = text.substr(i, end - i);
      i = end;
    }
    i = SkipSpace(text, i);
    if (i < text.size() && text[i] == ',') i = SkipSpace(text, i + 1);
  }
  if (!items) return absl::InvalidArgumentError("pod list has no items");
  return *std::move(items);
}

absl::StatusOr<Json> ParsePod(absl::string_view text) {
  Json::parser_callback_t drop = [](int depth, Json::parse_event_t event, Json& parsed) {
    return !(event == Json::parse_event_t::key && depth == 1 && parsed.is_string() &&
             parsed.get_ref<const std::string&>() == "status");
  };
  try {
    return Json::parse(text.begin(), text.end(), drop);
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("pod is not JSON: ", e.what()));
  }
}

std::optional<std::pair<PodId, std::shared_ptr<const Parent>>> MakeParent(const Json& pod, absl::string_view ns,
                                                                         bool keep_text) {
  PodId id = IdOf(pod);
  if (!IsParent(pod) || id.ns != ns || id.name.empty()) return std::nullopt;
  auto data = std::make_shared<Parent>();
  // What a checkpoint is made of (sanitize.h, and the uid a token is bound to); the rest of the
  // pod (managedFields, annotations, ownerReferences, ...) is often most of its bytes.
  const Json& meta = pod["metadata"];
  Json kept_meta = {{"name", id.name}, {"namespace", id.ns}};
  if (meta.contains("uid")) kept_meta["uid"] = meta["uid"];
  if (meta.contains("labels")) kept_meta["labels"] = meta["labels"];
  Json kept = {{"metadata", std::move(kept_meta)}};
  if (pod.contains("spec")) kept["spec"] = pod["spec"];
  std::string text = kept.dump();
  data->spec_hash = Hash(text);
  if (keep_text) data->text = std::move(text);
  return std::make_pair(std::move(id), std::shared_ptr<const Parent>(std::move(data)));
}

absl::StatusOr<std::optional<std::pair<PodId, std::shared_ptr<const Parent>>>> ParseParent(
    absl::string_view pod_text, absl::string_view ns, bool keep_text) {
  auto pod = ParsePod(pod_text);
  if (!pod.ok()) return pod.status();
  return MakeParent(*pod, ns, keep_text);
}

absl::Status ParentCache::Update(absl::string_view list_text) {
  auto items = SplitListItems(list_text);
  if (!items.ok()) return items.status();
  // Parse what is new first, so that an error leaves the cache as it was.
  std::vector<std::pair<size_t, Item>> fresh;
  std::vector<size_t> hashes;
  hashes.reserve(items->size());
  for (absl::string_view text : *items) {
    size_t h = Hash(text);
    hashes.push_back(h);
    if (items_.count(h)) continue;
    auto parent = ParseParent(text, ns_, keep_text_);
    if (!parent.ok()) return parent.status();
    Item item;
    if (parent->has_value()) {
      item.parent = true;
      item.id = (*parent)->first;
      item.data = (*parent)->second;
    }
    fresh.emplace_back(h, std::move(item));
  }
  // Mark and sweep: in steady state no allocation at all.
  ++generation_;
  parsed_last_ = static_cast<int>(fresh.size());
  for (auto& [h, item] : fresh) items_.emplace(h, std::move(item));
  for (size_t h : hashes) items_.find(h)->second.seen = generation_;
  size_t before = items_.size();
  std::erase_if(items_, [&](const auto& kv) { return kv.second.seen != generation_; });
  changed_last_ = generation_ == 1 || !fresh.empty() || items_.size() != before;
  if (!changed_last_) return absl::OkStatus();  // same pods, maybe reordered
  auto parents = std::make_shared<ParentMap>();
  for (const auto& [h, item] : items_) {
    if (item.parent) (*parents)[item.id] = item.data;
  }
  parents_ = std::move(parents);
  return absl::OkStatus();
}

}  // namespace lifeboat::checkpoint
