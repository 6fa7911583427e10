// Reading an etcd v3 data file without etcd: a snapshot from `etcdctl snapshot save` (a bbolt
// image followed by a 32-byte SHA-256 trailer) or a member's raw `member/snap/db`. This is the
// recovery path of last resort — etcd is gone and only a file is left — so the reader trusts
// nothing in the file: every offset is bounds-checked, the tree walk refuses cycles and shared
// pages, and any inconsistency is a DataLoss error saying what is wrong where, never a crash.
//
// The file is memory-mapped read-only and never modified. etcd's `key` bucket is keyed by
// revision, not by user key (the user key is inside each revision's mvccpb.KeyValue), so opening
// the file walks every revision once, in order, dropping the mapped pages behind it. For each
// user key it keeps 16 bytes and a hash-table slot: where its latest revision lives in the file
// (nothing of values, not even the key itself). With `key_prefixes` set, it keeps that only for
// keys under those prefixes, so memory grows with what the caller reads (`recover`: four
// prefixes of one namespace), not with the cluster. Get and Range then decode values straight
// from the mapping. Deleted keys (latest revision a tombstone) are absent.
//
//   SnapshotOptions o;
//   o.key_prefixes = {"/registry/secrets/kube-system/"};
//   LB_ASSIGN_OR_RETURN(auto snap, etcd::SnapshotReader::Open("/backup/etcd.db", o));
//   LB_RETURN_IF_ERROR(snap->Range("/registry/secrets/kube-system/", each));
//
// Pure: no gRPC, no logging; links OpenSSL's libcrypto for SHA-256 only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "etcd/kv.h"

namespace lifeboat::etcd {

// Every member has a default (`{}` where the type has one), so designated initializers
// ({.skip_hash_check = true}) leave the rest out without -Wmissing-field-initializers.
struct SnapshotOptions {
  // A file whose size is 32 bytes past a 512-byte boundary carries etcd's SHA-256 trailer, which
  // is verified unless this is set (as `etcdctl snapshot restore --skip-hash-check`). A file
  // without a trailer (a raw member/snap/db) is never hash-checked.
  bool skip_hash_check = false;
  // When not empty, only keys starting with one of these are read: the reader holds nothing for
  // any other key, and asking for one (Get of a key outside them, Range of a prefix that is not
  // within one of them) is FailedPrecondition rather than a silent "absent".
  std::vector<std::string> key_prefixes{};
  // Tests only: replaces the hash of user keys, so that collisions can be forced.
  uint64_t (*key_hash_for_testing)(absl::string_view) = nullptr;
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
  // Live keys under `prefix` in key order. Costs, besides the values, a copy of the keys under
  // `prefix` for sorting them.
  absl::Status Range(absl::string_view prefix,
                     const std::function<absl::Status(KeyValue&&)>& each) override;
  std::string Describe() const override;  // "snapshot <path>"

  // The store's revision: the highest main revision found in the file (every key's, read or
  // not).
  int64_t revision() const { return revision_; }
  // Number of live (not deleted) keys read (with key_prefixes: under them).
  size_t size() const { return live_; }
  // Number of user keys the reader holds a slot for, live or deleted: what its memory grows with.
  size_t keys_held() const { return slots_.size(); }
  // Whether the file carried etcd's SHA-256 trailer (verified unless skip_hash_check).
  bool has_hash_trailer() const { return has_trailer_; }

 private:
  // The latest revision of one user key that is read: where its mvccpb.KeyValue lives inside the
  // mapping (the user key is read from there when needed).
  struct Slot {
    uint64_t value_offset;
    uint32_t value_size;
    uint16_t group;  // the index in key_prefixes_ of the prefix it is under (0 without them)
    bool deleted;    // the latest revision is a tombstone
  };
  static_assert(sizeof(Slot) == 16);

  SnapshotReader() = default;
  absl::Status Load(SnapshotOptions options);
  // The user key of a slot, read from the mapping (already parsed once while loading).
  absl::string_view KeyOf(const Slot& s) const;
  uint64_t Hash(absl::string_view key) const;
  // The slot of `key`, or null.
  const Slot* Find(absl::string_view key) const;
  // Whether `key` is under key_prefixes_ (always, without them); sets `group`.
  bool Wanted(absl::string_view key, uint16_t* group) const;
  absl::StatusOr<KeyValue> Decode(const Slot& s) const;
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
  std::vector<std::string> key_prefixes_;
  uint64_t (*key_hash_)(absl::string_view) = nullptr;
  std::vector<Slot> slots_;  // one per user key read, live or deleted
  size_t live_ = 0;
  // Slots by a hash of the user key; a key whose hash an earlier key already took (a collision)
  // is found by its full text in `collided_` instead.
  absl::flat_hash_map<uint64_t, uint32_t> by_hash_;
  absl::flat_hash_map<std::string, uint32_t> collided_;
};

}  // namespace lifeboat::etcd
