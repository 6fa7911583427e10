// Durable file-system primitives. Everything the kubelet or an operator reads is written with
// WriteFileAtomic: a reader sees the old content or the new, never a partial file, even after
// power loss (temp file in the same directory, write, fsync, rename, fsync the directory).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace lifeboat::base {

// The system calls behind the durable writes and removals below: a seam, so that tests can put a
// fault-injecting implementation in its place (testing::FaultyFileOps: ENOSPC, EIO on write,
// fsync, rename) and check what a full or failing disk leaves behind. The defaults are the real
// calls; return values and errno as the system calls'.
class FileOps {
 public:
  virtual ~FileOps() = default;
  virtual int Open(const char* path, int flags, mode_t mode);
  virtual ssize_t Write(int fd, const void* data, size_t size);
  virtual int Fsync(int fd);
  virtual int Close(int fd);
  virtual int Rename(const char* from, const char* to);
  virtual int Unlink(const char* path);
};

// The real system calls.
FileOps& RealFileOps();

// Reads a whole file. NotFound if it does not exist.
absl::StatusOr<std::string> ReadFile(const std::filesystem::path& path);

// Atomically replaces `path` with `data`, created with exactly `mode` (umask ignored).
// The parent directory must exist. Failures leave any previous file untouched and no temp file.
absl::Status WriteFileAtomic(const std::filesystem::path& path, absl::string_view data, mode_t mode,
                             FileOps& ops = RealFileOps());

// Like WriteFileAtomic, but never replaces an existing file: AlreadyExists if `path` exists
// (checked atomically with link(2), so a concurrent writer cannot be overwritten either).
absl::Status WriteFileAtomicNoReplace(const std::filesystem::path& path, absl::string_view data,
                                      mode_t mode);

// Copies the tree `from` to `to` (which must not exist), keeping file modes, fsyncing
// every file and directory.
absl::Status CopyTree(const std::filesystem::path& from, const std::filesystem::path& to);

// Creates `path` and missing parents with `mode` (existing directories keep their mode unless
// `enforce` is set, in which case the final directory is chmod'ed to `mode`).
absl::Status MakeDirs(const std::filesystem::path& path, mode_t mode, bool enforce = false);

// fsyncs a directory so that renames and unlinks inside it are durable.
absl::Status SyncDir(const std::filesystem::path& dir, FileOps& ops = RealFileOps());

// Removes a file; a missing file is not an error. The parent directory is fsynced.
absl::Status RemoveFile(const std::filesystem::path& path, FileOps& ops = RealFileOps());

// Removes a directory tree; a missing tree is not an error.
// The parent directory is fsynced through `ops`.
absl::Status RemoveTree(const std::filesystem::path& path, FileOps& ops = RealFileOps());

// Changes owner of `path` (no-op when uid/gid already match).
absl::Status Chown(const std::filesystem::path& path, uid_t uid, gid_t gid);

// Removes leftover temp files (names starting with ".lifeboat-tmp") from `dir`.
absl::Status RemoveStaleTempFiles(const std::filesystem::path& dir);

// The prefix of temp files made by WriteFileAtomic. The kubelet ignores files starting with '.'.
inline constexpr absl::string_view kTempPrefix = ".lifeboat-tmp";

}  // namespace lifeboat::base
