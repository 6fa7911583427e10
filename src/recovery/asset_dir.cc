#include "recovery/asset_dir.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/status.h"

namespace lifeboat::recovery {
namespace fs = std::filesystem;
namespace {

absl::Status CheckReplaceable(const fs::path& dir) {
  static const std::set<std::string> kOurs = {"bootstrap-manifests", "tls", "auth"};
  std::error_code ec;
  if (!fs::exists(dir, ec)) return absl::OkStatus();
  if (!fs::is_directory(dir, ec)) {
    return absl::FailedPreconditionError(absl::StrCat(dir.string(), " exists and is not a directory"));
  }
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (!kOurs.count(e.path().filename().string())) {
      return absl::FailedPreconditionError(absl::StrCat(
          "refusing to replace ", dir.string(), ": it holds ", e.path().filename().string(),
          ", which a recovery dir does not; choose an empty or new --recovery-dir"));
    }
  }
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot read ", dir.string(), ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteAssetDir(const AssetSet& assets, const fs::path& dir_in) {
  fs::path dir = fs::absolute(dir_in).lexically_normal();
  if (dir.filename().empty()) dir = dir.parent_path();
  LB_RETURN_IF_ERROR(CheckReplaceable(dir));
  fs::path parent = dir.parent_path();
  LB_RETURN_IF_ERROR(base::MakeDirs(parent, 0755));
  std::mt19937_64 rng(std::random_device{}());
  fs::path staging = parent / absl::StrCat(".", dir.filename().string(), base::kTempPrefix, "-", rng() % 1000000000);
  LB_RETURN_IF_ERROR(base::MakeDirs(staging, 0700, /*enforce=*/true));
  auto cleanup = [&](absl::Status st) {
    std::error_code ec;
    fs::remove_all(staging, ec);
    return st;
  };
  for (const auto& d : assets.dirs) {
    if (auto st = base::MakeDirs(staging / d, 0700); !st.ok()) return cleanup(st);
  }
  for (const auto& [rel, file] : assets.files) {
    fs::path p = staging / rel;
    if (auto st = base::MakeDirs(p.parent_path(), 0700); !st.ok()) return cleanup(st);
    if (auto st = base::WriteFileAtomic(p, file.data, file.mode); !st.ok()) return cleanup(st);
  }
  // Make every directory's entries durable before the switch.
  for (auto it = fs::recursive_directory_iterator(staging); it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_directory()) {
      if (auto st = base::SyncDir(it->path()); !st.ok()) return cleanup(st);
    }
  }
  if (auto st = base::SyncDir(staging); !st.ok()) return cleanup(st);
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (::renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, dir.c_str(), RENAME_EXCHANGE) != 0) {
      return cleanup(absl::InternalError(
          absl::StrCat("cannot replace ", dir.string(), ": ", std::strerror(errno))));
    }
    // `staging` now holds the previous recovery dir.
    fs::remove_all(staging, ec);
  } else if (::rename(staging.c_str(), dir.c_str()) != 0) {
    return cleanup(absl::InternalError(
        absl::StrCat("cannot create ", dir.string(), ": ", std::strerror(errno))));
  }
  return base::SyncDir(parent);
}

}  // namespace lifeboat::recovery
