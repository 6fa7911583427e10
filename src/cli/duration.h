// Go-style durations on the command line ("90s", "20m", "1h30m", "500ms"), as upstream's flags.
#pragma once

#include <chrono>
#include <string>

#include "absl/status/statusor.h"

namespace lifeboat::cli {

absl::StatusOr<std::chrono::milliseconds> ParseDuration(const std::string& text);

}  // namespace lifeboat::cli
