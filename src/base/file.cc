#include "base/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "base/status.h"

namespace lifeboat::base {
namespace fs = std::filesystem;
namespace {

absl::Status ErrnoStatus(absl::string_view what, const fs::path& path, int err) {
  std::string msg = absl::StrCat(what, " ", path.string(), ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(msg);
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::PermissionDeniedError(msg);
    case EEXIST:
      return absl::AlreadyExistsError(msg);
    default:
      return absl::InternalError(msg);
  }
}

// Closes the descriptor on every path out of a function.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

std::string RandomSuffix() {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  return absl::StrCat(rng() & 0xffffffffffULL);
}

}  // namespace

int FileOps::Open(const char* path, int flags, mode_t mode) { return ::open(path, flags, mode); }
ssize_t FileOps::Write(int fd, const void* data, size_t size) { return ::write(fd, data, size); }
int FileOps::Fsync(int fd) { return ::fsync(fd); }
int FileOps::Close(int fd) { return ::close(fd); }
int FileOps::Rename(const char* from, const char* to) { return ::rename(from, to); }
int FileOps::Unlink(const char* path) { return ::unlink(path); }

FileOps& RealFileOps() {
  static FileOps real;
  return real;
}

absl::StatusOr<std::string> ReadFile(const fs::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus("cannot open", path, errno);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("cannot read", path, errno);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

absl::Status SyncDir(const fs::path& dir, FileOps& ops) {
  Fd fd(ops.Open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0));
  if (fd.get() < 0) return ErrnoStatus("cannot open directory", dir, errno);
  if (ops.Fsync(fd.get()) != 0) return ErrnoStatus("cannot fsync directory", dir, errno);
  return absl::OkStatus();
}

namespace {

// Writes `data` durably into a new temp file next to `path`; returns the temp file's path.
absl::StatusOr<fs::path> WriteTemp(const fs::path& path, absl::string_view data, mode_t mode, FileOps& ops) {
  fs::path dir = path.parent_path();
  fs::path tmp = (dir.empty() ? fs::path(".") : dir) /
                 absl::StrCat(kTempPrefix, "-", path.filename().string(), "-", RandomSuffix());
  Fd fd(ops.Open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (fd.get() < 0) return ErrnoStatus("cannot create", path, errno);  // the file the caller knows
  auto fail = [&](absl::string_view what) -> absl::Status {
    int err = errno;
    ops.Unlink(tmp.c_str());
    return ErrnoStatus(what, path, err);
  };
  if (::fchmod(fd.get(), mode) != 0) return fail("cannot chmod");
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ops.Write(fd.get(), p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write");
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (ops.Fsync(fd.get()) != 0) return fail("cannot fsync");
  if (ops.Close(fd.release()) != 0) return fail("cannot close");
  return tmp;
}

}  // namespace

absl::Status WriteFileAtomic(const fs::path& path, absl::string_view data, mode_t mode, FileOps& ops) {
  LB_ASSIGN_OR_RETURN(fs::path tmp, WriteTemp(path, data, mode, ops));
  if (ops.Rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ops.Unlink(tmp.c_str());
    return ErrnoStatus("cannot rename into place", path, err);
  }
  return SyncDir(path.parent_path(), ops);
}

absl::Status WriteFileAtomicNoReplace(const fs::path& path, absl::string_view data, mode_t mode) {
  LB_ASSIGN_OR_RETURN(fs::path tmp, WriteTemp(path, data, mode, RealFileOps()));
  int rc = ::link(tmp.c_str(), path.c_str());
  int err = errno;
  ::unlink(tmp.c_str());
  if (rc != 0) return ErrnoStatus("cannot create", path, err);
  return SyncDir(path.parent_path());
}

absl::Status CopyTree(const fs::path& from, const fs::path& to) {
  struct stat st;
  if (::stat(from.c_str(), &st) != 0) return ErrnoStatus("cannot read", from, errno);
  if (::mkdir(to.c_str(), st.st_mode & 07777) != 0) return ErrnoStatus("cannot create directory", to, errno);
  ::chmod(to.c_str(), st.st_mode & 07777);
  std::error_code ec;
  for (fs::directory_iterator it(from, ec), end; !ec && it != end; it.increment(ec)) {
    fs::path src = it->path(), dst = to / src.filename();
    if (it->is_symlink(ec)) {
      return absl::FailedPreconditionError(absl::StrCat("refusing to copy symlink ", src.string()));
    }
    if (it->is_directory(ec)) {
      LB_RETURN_IF_ERROR(CopyTree(src, dst));
    } else {
      if (::stat(src.c_str(), &st) != 0) return ErrnoStatus("cannot read", src, errno);
      LB_ASSIGN_OR_RETURN(std::string data, ReadFile(src));
      LB_RETURN_IF_ERROR(WriteFileAtomic(dst, data, st.st_mode & 07777));
    }
  }
  if (ec) return absl::InternalError(absl::StrCat("cannot list ", from.string(), ": ", ec.message()));
  return SyncDir(to);
}

absl::Status MakeDirs(const fs::path& path, mode_t mode, bool enforce) {
  std::error_code ec;
  fs::path current;
  for (const auto& part : path) {
    current /= part;
    if (current == current.root_path()) continue;
    if (::mkdir(current.c_str(), mode) != 0) {
      if (errno != EEXIST) return ErrnoStatus("cannot create directory", current, errno);
      if (!fs::is_directory(current, ec)) {
        return absl::FailedPreconditionError(
            absl::StrCat(current.string(), " exists and is not a directory"));
      }
    } else {
      ::chmod(current.c_str(), mode);  // mkdir honours the umask; we do not.
      if (current.has_parent_path()) (void)SyncDir(current.parent_path());
    }
  }
  if (enforce && ::chmod(path.c_str(), mode) != 0) {
    return ErrnoStatus("cannot chmod", path, errno);
  }
  return absl::OkStatus();
}

absl::Status RemoveFile(const fs::path& path, FileOps& ops) {
  if (ops.Unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoStatus("cannot remove", path, errno);
  }
  return SyncDir(path.parent_path(), ops);
}

absl::Status RemoveTree(const fs::path& path, FileOps& ops) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot remove ", path.string(), ": ", ec.message()));
  if (path.has_parent_path() && fs::exists(path.parent_path(), ec)) {
    return SyncDir(path.parent_path(), ops);
  }
  return absl::OkStatus();
}

absl::Status Chown(const fs::path& path, uid_t uid, gid_t gid) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return ErrnoStatus("cannot stat", path, errno);
  if (st.st_uid == uid && st.st_gid == gid) return absl::OkStatus();
  if (::lchown(path.c_str(), uid, gid) != 0) return ErrnoStatus("cannot chown", path, errno);
  return absl::OkStatus();
}

absl::Status RemoveStaleTempFiles(const fs::path& dir) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (absl::StartsWith(it->path().filename().string(), kTempPrefix)) {
      fs::remove(it->path(), ec);
      if (ec) return absl::InternalError(absl::StrCat("cannot remove ", it->path().string()));
    }
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return absl::InternalError(absl::StrCat("cannot list ", dir.string(), ": ", ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace lifeboat::base
