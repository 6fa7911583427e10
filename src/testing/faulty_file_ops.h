// A fault-injecting base::FileOps (cf. leveldb's ErrorEnv): the real system calls, except that
// calls chosen by a test fail with the errno it names -- a full disk (ENOSPC) or a failing one
// (EIO) on write, fsync or rename -- so tests see what the real durable-write code leaves behind.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "base/file.h"

namespace lifeboat::testing {

class FaultyFileOps : public base::FileOps {
 public:
  enum class Op { kWrite, kFsync, kRename, kUnlink };

  // The next `count` calls of `op` on a path containing `path_part` ("" = any path) fail with
  // `err`. For a rename the path is the destination; for write and fsync the file's (or
  // directory's) path as opened. A failing write first writes half of its bytes, as a disk that
  // fills up mid-write does (the temp file then holds a partial copy).
  void FailNext(Op op, int err, std::string path_part = "", int count = 1);
  // Every call of `op` on a matching path fails until Clear().
  void FailAlways(Op op, int err, std::string path_part = "");
  void Clear();
  // How many calls failed so far.
  int failures() const;

  int Open(const char* path, int flags, mode_t mode) override;
  ssize_t Write(int fd, const void* data, size_t size) override;
  int Fsync(int fd) override;
  int Close(int fd) override;
  int Rename(const char* from, const char* to) override;
  int Unlink(const char* path) override;

 private:
  struct Fault {
    Op op;
    int err;
    std::string path_part;
    int count;  // < 0: always
  };
  // The errno to fail with, or 0.
  int Take(Op op, const std::string& path);

  mutable std::mutex mu_;
  std::vector<Fault> faults_;
  std::map<int, std::string> open_;  // fd -> path
  int failures_ = 0;
};

}  // namespace lifeboat::testing
