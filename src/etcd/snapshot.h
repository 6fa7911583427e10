// Reading an etcd v3 data file without etcd: a snapshot from `etcdctl snapshot save` (a bbolt
// image followed by a 32-byte SHA-256 trailer) or a member's raw `member/snap/db`. This is the
// recovery path of last resort — etcd is gone and only a file is left — so the reader trusts
// nothing in the file: every offset is bounds-checked, the tree walk refuses cycles and shared
// pages, and any inconsistency is a DataLoss error saying what is wrong where, never a crash.
//
// The file is memory-mapped read-only and never modified. Opening it walks etcd's `key` bucket
// once and keeps, per user key, only where its latest revision's value lives (memory grows with
// the number of keys, not the size of values); Get and Range then decode values straight from
// the mapping. Deleted keys (latest revision a tombstone) are absent.
//
//   LB_ASSIGN_OR_RETURN(auto snap, etcd::SnapshotReader::Open("/backup/etcd.db"));
//   LB_RETURN_IF_ERROR(snap->Range("/registry/secrets/kube-system/", each));
//
// Pure: no gRPC, no logging; links OpenSSL's libcrypto for SHA-256 only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "etcd/kv.h"

namespace lifeboat::etcd {

struct SnapshotOptions {
  // A file whose size is 32 bytes past a 512-byte boundary carries etcd's SHA-256 trailer, which
  // is verified unless this is set (as `etcdctl snapshot restore --skip-hash-check`). A file
  // without a trailer (a raw member/snap/db) is never hash-checked.
  bool skip_hash_check = false;
};

class SnapshotReader : public KvReader {
 public:
  // Maps and indexes the file at `path`. Failures (none worth retrying):
  //   NotFound / PermissionDenied  the file cannot be opened;
  //   InvalidArgument              empty, or not a bbolt file at all;
  //   FailedPrecondition           a running etcd holds the file's lock (read a copy or a
  //   snapshot); DataLoss                     truncated, corrupted, or the SHA-256 trailer does not
  //   match.
  static absl::StatusOr<std::unique_ptr<SnapshotReader>> Open(const std::string& path,
                                                              SnapshotOptions options = {});
  // The same over bytes the caller keeps alive for the reader's lifetime (tests, fuzzing).
  // `name` is used in messages.
  static absl::StatusOr<std::unique_ptr<SnapshotReader>> FromBytes(absl::string_view bytes,
                                                                   std::string name,
                                                                   SnapshotOptions options = {});
  ~SnapshotReader() override;

  absl::StatusOr<std::optional<KeyValue>> Get(absl::string_view key) override;
  absl::Status Range(absl::string_view prefix,
                     const std::function<absl::Status(KeyValue&&)>& each) override;
  std::string Describe() const override;  // "snapshot <path>"

  // The store's revision: the highest main revision found in the file.
  int64_t revision() const { return revision_; }
  // Number of live (not deleted) keys.
  size_t size() const { return entries_.size(); }
  // Whether the file carried etcd's SHA-256 trailer (verified unless skip_hash_check).
  bool has_hash_trailer() const { return has_trailer_; }

 private:
  // One live user key (a copy, so that sorting and searching never fault in file pages) and
  // where its latest revision's value lives inside the mapping.
  struct Entry {
    absl::string_view key;  // into key_chunks_
    uint64_t value_offset;  // the serialized mvccpb.KeyValue
    uint32_t value_size;
  };

  SnapshotReader() = default;
  absl::Status Load(SnapshotOptions options);
  // Copies a key into stable storage (chunks that never move).
  absl::string_view StoreKey(absl::string_view key);
  absl::StatusOr<KeyValue> Decode(const Entry& e) const;
  // Counts bytes read from the mapping and drops its pages from memory every few MiB.
  void Touched(size_t bytes);
  void ReleaseTouchedPages();

  std::string name_;
  const char* data_ = nullptr;  // the whole file (or caller's bytes)
  size_t size_ = 0;
  void* mapping_ = nullptr;  // non-null when we mmap'ed the file
  int fd_ = -1;
  bool has_trailer_ = false;
  int64_t revision_ = 0;
  size_t touched_since_release_ = 0;
  std::vector<Entry> entries_;  // live keys, sorted by user key
  std::vector<std::unique_ptr<char[]>> key_chunks_;
  size_t chunk_left_ = 0;
};

}  // namespace lifeboat::etcd
