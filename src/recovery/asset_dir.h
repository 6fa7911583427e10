// Writes an AssetSet as a recovery dir, all or nothing: everything goes to a hidden sibling
// directory first (each file fsync'd), which then replaces the target in one atomic exchange.
// An interrupted run leaves either no recovery dir or the previous one, never half of one.
#pragma once

#include <filesystem>

#include "absl/status/status.h"
#include "recovery/render.h"

namespace lifeboat::recovery {

// Writes `assets` to `dir`. `dir` may be absent, empty, or a previous recovery dir (only
// bootstrap-manifests/, tls/, auth/ inside); anything else is refused with FailedPrecondition
// rather than deleted. Directories are 0700.
absl::Status WriteAssetDir(const AssetSet& assets, const std::filesystem::path& dir);

}  // namespace lifeboat::recovery
