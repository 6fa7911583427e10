// The read side of etcd's key space as Lifeboat needs it, implemented by the live gRPC client
// (etcd/client.h) and by the snapshot-file reader (etcd/snapshot.h). Values are the raw bytes
// the API server stored (possibly encrypted); decoding is storage/'s job.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lifeboat::etcd {

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;  // the Kubernetes resourceVersion
  int64_t version = 0;
};

class KvReader {
 public:
  virtual ~KvReader() = default;
  // The live value of `key`; nullopt when absent. Unavailable when no endpoint answers.
  virtual absl::StatusOr<std::optional<KeyValue>> Get(absl::string_view key) = 0;
  // Calls `each` for every live key starting with `prefix`, in key order, streaming in pages
  // so that memory stays bounded whatever the number of keys. Stops at the first error.
  virtual absl::Status Range(absl::string_view prefix,
                             const std::function<absl::Status(KeyValue&&)>& each) = 0;
  // For messages: "etcd at https://127.0.0.1:2379" or "snapshot /path/file.db".
  virtual std::string Describe() const = 0;
};

}  // namespace lifeboat::etcd
