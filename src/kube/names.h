// Validation of names and keys that come from the API before they become paths. A Secret key
// of "../../etc/shadow" must never be written outside its directory: anything that is not a
// plain Kubernetes name or data key is refused.
#pragma once

#include <filesystem>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace lifeboat::kube {

// An object name or namespace usable as one path component: the DNS-subdomain characters
// [a-z0-9.-], at most 253, not "." or "..". InvalidArgument naming `what` otherwise.
absl::Status ValidateObjectName(absl::string_view what, absl::string_view name);

// A Secret/ConfigMap data key: [-._a-zA-Z0-9]+, at most 253, not "." or "..".
absl::Status ValidateDataKey(absl::string_view key);

// A relative path from a volume's `items[].path`: non-empty, not absolute, no "." or ".."
// components, each component a valid data key.
absl::Status ValidateRelativePath(absl::string_view path);

// Percent-escapes a URL query value or path segment (everything but [A-Za-z0-9-_.~]).
std::string QueryEscape(absl::string_view value);

}  // namespace lifeboat::kube
