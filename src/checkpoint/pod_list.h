// Cheap handling of PodLists that are read every tick (pure: no I/O).
//
// The kubelet's /pods lists pods in a random order, so the answer differs byte for byte every
// tick even when nothing changed; parsing it all every tick would cost tens of milliseconds with
// a hundred pods. Instead the list is split into its items without parsing them, each item is
// hashed, and only items not seen last tick are parsed.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "checkpoint/pod.h"

namespace lifeboat::checkpoint {

// The raw text of each element of the top-level "items" array of a JSON list object. Only the
// structure is checked (strings, escapes, nesting); the items themselves are not parsed.
// InvalidArgument when the text is not a JSON object or has no items array.
// `metadata`, when given, receives the raw text of the list's top-level "metadata" object ("" if
// it has none).
absl::StatusOr<std::vector<absl::string_view>> SplitListItems(absl::string_view text,
                                                              absl::string_view* metadata = nullptr);

// A parent pod as a checkpoint needs it.
struct Parent {
  // The parts of the pod a checkpoint is made of, as JSON: metadata name, namespace, uid and
  // labels, and the spec. Empty when only presence matters.
  std::string text;
  size_t spec_hash = 0;  // changes when what goes into a checkpoint changes (uid, labels, spec)
};
using ParentMap = std::map<PodId, std::shared_ptr<const Parent>>;

// The parent in one pod's JSON text, or nullopt when the pod is no parent of namespace `ns`.
// `keep_text`: keep what a checkpoint needs in Parent::text. InvalidArgument if not JSON.
absl::StatusOr<std::optional<std::pair<PodId, std::shared_ptr<const Parent>>>> ParseParent(
    absl::string_view pod_text, absl::string_view ns, bool keep_text);
// The same for an already parsed pod (status already dropped).
std::optional<std::pair<PodId, std::shared_ptr<const Parent>>> MakeParent(const Json& pod, absl::string_view ns,
                                                                         bool keep_text);

// The parents in a PodList, updated tick after tick.
class ParentCache {
 public:
  using Parent = checkpoint::Parent;

  // `keep_text`: keep each parent's JSON (the kubelet's list, which checkpoints are made from);
  // otherwise only which parents exist (the API server's list).
  ParentCache(std::string ns, bool keep_text) : ns_(std::move(ns)), keep_text_(keep_text) {}

  // Takes a new answer. Items seen before cost a hash; new ones are parsed. Errors leave the
  // cache as it was.
  absl::Status Update(absl::string_view list_text);

  const ParentMap& parents() const { return *parents_; }
  // The same map, shared: a later Update does not change what it points to.
  std::shared_ptr<const ParentMap> shared_parents() const { return parents_; }
  // Items parsed by the last Update (for tests and benchmarks).
  int parsed_last() const { return parsed_last_; }
  // Whether the last successful Update saw any item added, changed or removed (the first always
  // does); reordering alone is no change.
  bool changed_last() const { return changed_last_; }

 private:
  struct Item {
    bool parent = false;
    PodId id;
    std::shared_ptr<const Parent> data;
    uint64_t seen = 0;  // the Update that last saw it
  };
  std::string ns_;
  bool keep_text_;
  std::unordered_map<size_t, Item> items_;  // by hash of the item's text
  std::shared_ptr<const ParentMap> parents_ = std::make_shared<ParentMap>();
  int parsed_last_ = 0;
  bool changed_last_ = false;
  uint64_t generation_ = 0;
};

// The JSON of one pod with its status removed (the parts of a kubelet pod a checkpoint uses).
absl::StatusOr<Json> ParsePod(absl::string_view text);

}  // namespace lifeboat::checkpoint
