#include "testing/faulty_file_ops.h"

#include <unistd.h>

#include <cerrno>

namespace lifeboat::testing {

void FaultyFileOps::FailNext(Op op, int err, std::string path_part, int count) {
  std::lock_guard<std::mutex> lock(mu_);
  faults_.push_back({op, err, std::move(path_part), count});
}

void FaultyFileOps::FailAlways(Op op, int err, std::string path_part) {
  std::lock_guard<std::mutex> lock(mu_);
  faults_.push_back({op, err, std::move(path_part), -1});
}

void FaultyFileOps::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  faults_.clear();
}

int FaultyFileOps::failures() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failures_;
}

int FaultyFileOps::Take(Op op, const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = faults_.begin(); it != faults_.end(); ++it) {
    if (it->op != op || path.find(it->path_part) == std::string::npos) continue;
    int err = it->err;
    if (it->count > 0 && --it->count == 0) faults_.erase(it);
    ++failures_;
    return err;
  }
  return 0;
}

int FaultyFileOps::Open(const char* path, int flags, mode_t mode) {
  int fd = base::FileOps::Open(path, flags, mode);
  if (fd >= 0) {
    std::lock_guard<std::mutex> lock(mu_);
    open_[fd] = path;
  }
  return fd;
}

ssize_t FaultyFileOps::Write(int fd, const void* data, size_t size) {
  std::string path;
  {
    std::lock_guard<std::mutex> lock(mu_);
    path = open_[fd];
  }
  if (int err = Take(Op::kWrite, path)) {
    if (size > 1) (void)base::FileOps::Write(fd, data, size / 2);
    errno = err;
    return -1;
  }
  return base::FileOps::Write(fd, data, size);
}

int FaultyFileOps::Fsync(int fd) {
  std::string path;
  {
    std::lock_guard<std::mutex> lock(mu_);
    path = open_[fd];
  }
  if (int err = Take(Op::kFsync, path)) {
    errno = err;
    return -1;
  }
  return base::FileOps::Fsync(fd);
}

int FaultyFileOps::Close(int fd) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    open_.erase(fd);
  }
  return base::FileOps::Close(fd);
}

int FaultyFileOps::Rename(const char* from, const char* to) {
  if (int err = Take(Op::kRename, to)) {
    errno = err;
    return -1;
  }
  return base::FileOps::Rename(from, to);
}

int FaultyFileOps::Unlink(const char* path) {
  if (int err = Take(Op::kUnlink, path)) {
    errno = err;
    return -1;
  }
  return base::FileOps::Unlink(path);
}

}  // namespace lifeboat::testing
