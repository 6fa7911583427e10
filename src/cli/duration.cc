#include "cli/duration.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace lifeboat::cli {

absl::StatusOr<std::chrono::milliseconds> ParseDuration(const std::string& text) {
  // absl parses Go's syntax (time.ParseDuration): units ns, us, ms, s, m, h; a unitless "0".
  absl::Duration d;
  if (!absl::ParseDuration(text, &d) || d < absl::ZeroDuration() || d == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\" is not a duration (use e.g. 90s, 20m, 1h30m, 500ms)"));
  }
  return absl::ToChronoMilliseconds(d);
}

}  // namespace lifeboat::cli
