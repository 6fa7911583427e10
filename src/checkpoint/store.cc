#include "checkpoint/store.h"

#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/status.h"

namespace lifeboat::checkpoint {
namespace fs = std::filesystem;
namespace {

// True when `path` already holds exactly `data` with `mode` and owner uid:gid.
bool Unchanged(const fs::path& path, const std::string& data, mode_t mode, uid_t uid, gid_t gid) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  if ((st.st_mode & 07777) != mode || st.st_uid != uid || st.st_gid != gid) return false;
  if (static_cast<size_t>(st.st_size) != data.size()) return false;
  auto old = base::ReadFile(path);
  return old.ok() && *old == data;
}

absl::Status EnsureDir(const fs::path& dir, uid_t uid, gid_t gid) {
  LB_RETURN_IF_ERROR(base::MakeDirs(dir, 0700, /*enforce=*/true));
  return base::Chown(dir, uid, gid);
}

// Removes temp files of interrupted writes anywhere below `root`.
absl::Status RemoveTempFilesBelow(const fs::path& root) {
  std::error_code ec;
  if (!fs::exists(root, ec)) return absl::OkStatus();
  std::vector<fs::path> dirs = {root};
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) dirs.push_back(it->path());
  }
  for (const auto& d : dirs) LB_RETURN_IF_ERROR(base::RemoveStaleTempFiles(d));
  return absl::OkStatus();
}

}  // namespace

absl::Status Store::Init() {
  LB_RETURN_IF_ERROR(base::MakeDirs(layout_.inactive_dir, 0700));
  LB_RETURN_IF_ERROR(base::MakeDirs(layout_.manifest_dir, 0755));
  LB_RETURN_IF_ERROR(base::MakeDirs(layout_.secrets_root, 0700));
  LB_RETURN_IF_ERROR(base::MakeDirs(layout_.configmaps_root, 0700));
  LB_RETURN_IF_ERROR(base::RemoveStaleTempFiles(layout_.inactive_dir));
  LB_RETURN_IF_ERROR(base::RemoveStaleTempFiles(layout_.manifest_dir));
  LB_RETURN_IF_ERROR(RemoveTempFilesBelow(layout_.secrets_root));
  return RemoveTempFilesBelow(layout_.configmaps_root);
}

void Store::ScanDir(const fs::path& dir, DirCache& dc, std::set<PodId>& out, std::vector<std::string>& problems) {
  // A file appearing, disappearing or being renamed into place changes the directory's mtime.
  // Timestamps are coarse (a few ms), so a directory changed in the last two seconds is listed
  // again regardless.
  std::error_code ec;
  auto mtime = fs::last_write_time(dir, ec);
  if (!ec && mtime == dc.mtime && fs::file_time_type::clock::now() - mtime > std::chrono::seconds(2)) {
    out.insert(dc.ids.begin(), dc.ids.end());
    problems.insert(problems.end(), dc.problems.begin(), dc.problems.end());
    return;
  }
  dc.mtime = ec ? fs::file_time_type{} : mtime;
  dc.ids.clear();
  dc.problems.clear();
  auto& cache = dc.files;
  std::set<std::string> present;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.' || !absl::EndsWith(name, ".json")) continue;
    std::error_code fe;
    if (!it->is_regular_file(fe)) continue;
    present.insert(name);
    auto file_mtime = it->last_write_time(fe);
    auto size = it->file_size(fe);
    auto cached = cache.find(name);
    if (cached != cache.end() && cached->second.mtime == file_mtime && cached->second.size == size) {
      if (cached->second.id) dc.ids.insert(*cached->second.id);
      if (!cached->second.problem.empty()) dc.problems.push_back(cached->second.problem);
      continue;
    }
    Seen seen{file_mtime, size, std::nullopt, ""};
    auto text = base::ReadFile(it->path());
    if (text.ok()) {
      auto pod = kube::ParseJson(*text);
      if (pod.ok()) {
        if (auto id = CheckpointOf(*pod)) {
          if (id->FileName() == name) {
            seen.id = *id;
          } else {
            seen.problem = absl::StrCat("ignoring ", it->path().string(), ": a checkpoint of ", id->String(),
                                        " must be named ", id->FileName());
          }
        }
      } else if (dir == layout_.inactive_dir) {
        seen.problem = absl::StrCat("ignoring ", it->path().string(), ": ", pod.status().message());
      }
    }
    if (seen.id) dc.ids.insert(*seen.id);
    if (!seen.problem.empty()) dc.problems.push_back(seen.problem);
    cache[name] = std::move(seen);
  }
  std::erase_if(cache, [&](const auto& kv) { return !present.count(kv.first); });
  out.insert(dc.ids.begin(), dc.ids.end());
  problems.insert(problems.end(), dc.problems.begin(), dc.problems.end());
}

Store::Scan Store::ScanDisk() {
  Scan scan;
  ScanDir(layout_.inactive_dir, inactive_seen_, scan.inactive, scan.problems);
  ScanDir(layout_.manifest_dir, active_seen_, scan.active, scan.problems);
  return scan;
}

absl::Status Store::SyncTree(const fs::path& root, const Checkpoint& cp, bool& changed) {
  // What should exist below root: the volume dirs, the files, and the dirs leading to them.
  std::set<fs::path> want_files, want_dirs, volume_dirs;
  auto below = [&](const fs::path& p) {
    auto rel = p.lexically_relative(root);
    return !rel.empty() && *rel.begin() != "..";
  };
  for (const auto& d : cp.dirs) {
    fs::path p(d);
    if (!below(p)) continue;
    volume_dirs.insert(p);
    for (fs::path q = p; q != root && below(q); q = q.parent_path()) want_dirs.insert(q);
  }
  for (const auto& f : cp.files) {
    fs::path p(f.path);
    if (!below(p)) continue;
    want_files.insert(p);
    for (fs::path q = p.parent_path(); q != root && below(q); q = q.parent_path()) want_dirs.insert(q);
  }
  if (want_dirs.empty()) {
    std::error_code ec;
    if (fs::exists(root, ec)) {
      LB_RETURN_IF_ERROR(base::RemoveTree(root, ops_));
      changed = true;
    }
    return absl::OkStatus();
  }
  LB_RETURN_IF_ERROR(base::MakeDirs(root, 0700));
  // Volume dirs and everything inside them belong to the pod's user; the dirs above (the pod's
  // dir, _projected) stay root's.
  auto inside_volume = [&](const fs::path& d) {
    for (const auto& v : volume_dirs) {
      auto rel = d.lexically_relative(v);
      if (!rel.empty() && *rel.begin() != "..") return true;  // d == v ("."), or below v
    }
    return false;
  };
  for (const auto& d : want_dirs) {  // sorted: parents before children
    if (inside_volume(d)) {
      LB_RETURN_IF_ERROR(EnsureDir(d, cp.uid, cp.gid));
    } else {
      LB_RETURN_IF_ERROR(base::MakeDirs(d, 0700, /*enforce=*/true));
    }
  }
  for (const auto& f : cp.files) {
    if (!want_files.count(fs::path(f.path))) continue;
    if (Unchanged(f.path, f.data, f.mode, cp.uid, cp.gid)) continue;
    LB_RETURN_IF_ERROR(base::WriteFileAtomic(f.path, f.data, f.mode, ops_));
    LB_RETURN_IF_ERROR(base::Chown(f.path, cp.uid, cp.gid));
    changed = true;
  }
  // Whatever else is there is from an older version of the pod (or a crashed write).
  std::vector<fs::path> stale;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    std::error_code te;
    bool is_dir = it->is_directory(te) && !it->is_symlink(te);
    if (is_dir ? !want_dirs.count(p) : !want_files.count(p)) {
      stale.push_back(p);
      if (is_dir) it.disable_recursion_pending();
    }
  }
  if (ec) return absl::InternalError(absl::StrCat("cannot list ", root.string(), ": ", ec.message()));
  for (const auto& p : stale) {
    LB_RETURN_IF_ERROR(base::RemoveTree(p, ops_));
    changed = true;
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> Store::Write(const Checkpoint& cp, bool refresh_active) {
  bool changed = false;
  LB_RETURN_IF_ERROR(SyncTree(layout_.SecretsDir(cp.id), cp, changed));
  LB_RETURN_IF_ERROR(SyncTree(layout_.ConfigMapsDir(cp.id), cp, changed));
  fs::path inactive = layout_.InactiveManifest(cp.id);
  if (!Unchanged(inactive, cp.manifest, 0600, ::geteuid(), ::getegid())) {
    LB_RETURN_IF_ERROR(base::WriteFileAtomic(inactive, cp.manifest, 0600, ops_));
    changed = true;
  }
  if (refresh_active) {
    fs::path active = layout_.ActiveManifest(cp.id);
    std::error_code ec;
    if (fs::exists(active, ec) && !Unchanged(active, cp.manifest, 0600, ::geteuid(), ::getegid())) {
      LB_RETURN_IF_ERROR(base::WriteFileAtomic(active, cp.manifest, 0600, ops_));
      changed = true;
    }
  }
  return changed;
}

absl::Status Store::Start(const PodId& id) {
  auto manifest = base::ReadFile(layout_.InactiveManifest(id));
  if (!manifest.ok()) {
    return Annotate(manifest.status(), absl::StrCat("cannot activate checkpoint ", id.String()));
  }
  return base::WriteFileAtomic(layout_.ActiveManifest(id), *manifest, 0600, ops_);
}

absl::StatusOr<bool> Store::Stop(const PodId& id) {
  fs::path active = layout_.ActiveManifest(id);
  std::error_code ec;
  bool existed = fs::exists(active, ec);
  LB_RETURN_IF_ERROR(base::RemoveFile(active, ops_));
  return existed;
}

absl::Status Store::Remove(const PodId& id) {
  LB_RETURN_IF_ERROR(base::RemoveTree(layout_.SecretsDir(id), ops_));
  LB_RETURN_IF_ERROR(base::RemoveTree(layout_.ConfigMapsDir(id), ops_));
  LB_RETURN_IF_ERROR(base::RemoveFile(layout_.InactiveManifest(id), ops_));
  return base::RemoveFile(layout_.ActiveManifest(id), ops_);
}

}  // namespace lifeboat::checkpoint
