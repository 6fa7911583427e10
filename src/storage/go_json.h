// How Go's encoding/json (and the Kubernetes types' MarshalJSON methods) print values, for the
// scalars whose text differs from a naive C++ rendering. Pure functions, no failure modes.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace lifeboat::storage::internal {

// `bytes` as the string encoding/json emits: valid UTF-8 is kept, each byte that does not start
// a valid UTF-8 sequence becomes U+FFFD (Go decodes protobuf strings without validating them).
std::string GoString(absl::string_view bytes);

// metav1.Time: RFC 3339 in UTC with whole seconds, "2021-01-02T03:04:05Z".
std::string FormatTime(int64_t unix_seconds);

// metav1.MicroTime: RFC 3339 in UTC with exactly 6 fractional digits (truncated),
// "2021-01-02T03:04:05.123456Z". `nanos` may be outside [0, 1e9) and is normalised as Go does.
std::string FormatMicroTime(int64_t unix_seconds, int64_t nanos);

// The Unix time of Go's zero time.Time (0001-01-01T00:00:00Z), which marshals as null.
inline constexpr int64_t kGoZeroTimeUnix = -62135596800;

// time.Duration.String(): "1h2m3.5s", "1.5ms", "0s".
std::string FormatDuration(int64_t nanos);

// Deepest nesting of arrays/objects in JSON text (strings are skipped). Used to refuse
// embedded JSON deeper than Go's decoder accepts (10000) before parsing it.
int JsonNestingDepth(absl::string_view text);

}  // namespace lifeboat::storage::internal
