// Follows the API server's pods of this node as a list and then a watch delivers them (pure: no
// I/O). The shell feeds it the list's text and then each watch event; it keeps the parents with
// their JSON (the source of every checkpoint) and the resourceVersion to resume from.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "checkpoint/pod_list.h"

namespace lifeboat::checkpoint {

class ParentWatch {
 public:
  explicit ParentWatch(std::string ns) : ns_(std::move(ns)) {}

  // A whole PodList (the answer to the list that starts or restarts a watch): replaces every
  // parent; the list's resourceVersion is where the watch resumes. InvalidArgument when the text
  // is not a pod list (the state is then unchanged).
  absl::Status Replace(absl::string_view list_text);

  // One watch event, a JSON object {"type": ..., "object": ...}. ADDED and MODIFIED add, update
  // or (a pod that lost the annotation) drop a parent, DELETED drops it, BOOKMARK only moves the
  // resourceVersion. Errors: OutOfRange for an ERROR event with code 410 (the resourceVersion was
  // compacted: relist), Unavailable for another ERROR event (reconnect), InvalidArgument for a
  // malformed event (relist). The state is unchanged on error.
  absl::Status Apply(absl::string_view event_text);

  // Where a watch resumes ("" before the first list).
  const std::string& resource_version() const { return rv_; }
  // The parents now; a later change makes a new map, so a holder's view stays as it was.
  const std::shared_ptr<const ParentMap>& parents() const { return parents_; }
  // Counts changes to parents(): equal versions, equal parents.
  uint64_t version() const { return version_; }

 private:
  void Set(std::shared_ptr<const ParentMap> parents);

  std::string ns_;
  std::string rv_;
  std::shared_ptr<const ParentMap> parents_ = std::make_shared<ParentMap>();
  uint64_t version_ = 0;
};

}  // namespace lifeboat::checkpoint
