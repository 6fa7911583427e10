// The checkpoints on the node's disk: inactive manifests, active manifests in the kubelet's
// manifest dir, and the Secret/ConfigMap files they mount. Every file is written atomically
// (base::WriteFileAtomic: temp file, fsync, rename, fsync dir), so the kubelet never reads a
// partial manifest, not even after a crash or power loss.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/file.h"
#include "checkpoint/pod.h"
#include "checkpoint/sanitize.h"

namespace lifeboat::checkpoint {

class Store {
 public:
  // `ops`: the system calls behind writes and removals (tests inject faults there).
  explicit Store(Layout layout, base::FileOps& ops = base::RealFileOps()) : layout_(std::move(layout)), ops_(ops) {}

  // Creates the directories (0700; the manifest dir 0755 if missing) and removes temp files
  // left by an earlier run that died mid-write.
  absl::Status Init();

  struct Scan {
    std::set<PodId> inactive;  // checkpoints in the inactive dir
    std::set<PodId> active;    // checkpoints in the kubelet's manifest dir
    std::vector<std::string> problems;  // files that look like checkpoints but cannot be used
  };
  // Finds the checkpoints on disk, ours and upstream bootkube's alike (<ns>-<pod>.json with the
  // checkpoint-of annotation); other static pods in the manifest dir are left alone. Files are
  // parsed once per change (name, size, mtime), so calling this every tick is cheap.
  Scan ScanDisk();

  // Writes `cp`: its Secret/ConfigMap files (0700 dirs, files with their modes, owned by
  // cp.uid/cp.gid), removes files of the pod that are no longer referenced, then the inactive
  // manifest (0600). When `refresh_active` and an active copy exists, it is brought up to date
  // too. Unchanged files are not rewritten. Returns whether anything changed on disk.
  absl::StatusOr<bool> Write(const Checkpoint& cp, bool refresh_active);

  // start: copies the inactive manifest into the manifest dir (NotFound if there is none).
  absl::Status Start(const PodId& id);
  // stop: deletes the manifest from the manifest dir. Returns whether there was one.
  absl::StatusOr<bool> Stop(const PodId& id);
  // remove: deletes the secrets, the configmaps, the inactive and then the active manifest.
  absl::Status Remove(const PodId& id);

  const Layout& layout() const { return layout_; }

 private:
  struct Seen {
    std::filesystem::file_time_type mtime;
    uintmax_t size = 0;
    std::optional<PodId> id;
    std::string problem;
  };
  struct DirCache {
    std::map<std::string, Seen> files;
    std::filesystem::file_time_type mtime{};
    std::set<PodId> ids;
    std::vector<std::string> problems;
  };
  void ScanDir(const std::filesystem::path& dir, DirCache& cache, std::set<PodId>& out,
               std::vector<std::string>& problems);
  absl::Status SyncTree(const std::filesystem::path& root, const Checkpoint& cp, bool& changed);

  Layout layout_;
  base::FileOps& ops_;
  DirCache inactive_seen_;
  DirCache active_seen_;
};

}  // namespace lifeboat::checkpoint
