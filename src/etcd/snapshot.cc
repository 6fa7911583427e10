#include "etcd/snapshot.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <functional>
#include <limits>

#include "absl/hash/hash.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status.h"
#include "base/varint.h"

namespace lifeboat::etcd {
namespace {

// bbolt writes its integers in host order; every platform etcd runs on in practice is
// little-endian, and so is every host we build for.
static_assert(std::endian::native == std::endian::little, "bbolt reader assumes little-endian");

constexpr uint32_t kMagic = 0xED0CDAED;
constexpr uint32_t kVersion = 2;
constexpr size_t kPageHeaderSize = 16;
constexpr size_t kMetaSize = 64;         // the meta struct, right after the page header
constexpr size_t kMetaChecksummed = 56;  // magic .. txid
constexpr size_t kElementSize = 16;      // branch and leaf element headers alike
constexpr size_t kBucketHeaderSize = 16;
constexpr uint16_t kBranchPage = 0x01;
constexpr uint16_t kLeafPage = 0x02;
constexpr uint32_t kBucketLeafFlag = 0x01;
constexpr size_t kTrailerSize = 32;  // SHA-256 appended by the snapshot stream
constexpr size_t kMaxDepth = 64;     // a real tree of 2^32 pages is < 32 levels deep
// Drop mapped pages from our resident set after touching this much of the file, so reading a
// snapshot of any size keeps resident memory bounded (the kernel keeps them in its page cache).
constexpr size_t kReleaseEvery = 2 << 20;
constexpr size_t kFaultAround = 64 << 10;

template <typename T>
T Read(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

uint64_t ReadBigEndian64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

uint64_t Fnv1a64(const char* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<uint8_t>(p[i]);
    h *= 0x100000001b3ULL;
  }
  return h;
}

struct Meta {
  uint32_t page_size = 0;
  uint64_t root = 0;
  uint64_t pgid = 0;  // one past the last page in use
  uint64_t txid = 0;
};

enum class MetaState { kValid, kTooSmall, kBadMagic, kBadVersion, kBadChecksum };

// The meta struct of the page starting at `page_offset`, checked as bbolt checks it.
MetaState CheckMeta(absl::string_view data, size_t page_offset, Meta* out) {
  if (page_offset > data.size() || data.size() - page_offset < kPageHeaderSize + kMetaSize) {
    return MetaState::kTooSmall;
  }
  const char* m = data.data() + page_offset + kPageHeaderSize;
  if (Read<uint32_t>(m) != kMagic) return MetaState::kBadMagic;
  if (Read<uint32_t>(m + 4) != kVersion) return MetaState::kBadVersion;
  uint64_t checksum = Read<uint64_t>(m + 56);
  if (checksum != 0 && checksum != Fnv1a64(m, kMetaChecksummed)) return MetaState::kBadChecksum;
  out->page_size = Read<uint32_t>(m + 8);
  out->root = Read<uint64_t>(m + 16);
  out->pgid = Read<uint64_t>(m + 40);
  out->txid = Read<uint64_t>(m + 48);
  return MetaState::kValid;
}

bool PlausiblePageSize(uint64_t s) { return s >= 512 && s <= (1u << 20) && std::has_single_bit(s); }

// Picks the current meta page: the valid one with the higher txid. Meta page 1 sits one page
// further in, so when page 0 is unusable its position is found by trying the page sizes bbolt
// is created with in practice.
absl::StatusOr<Meta> SelectMeta(absl::string_view data) {
  Meta m0, m1;
  MetaState s0 = CheckMeta(data, 0, &m0);
  if (s0 == MetaState::kTooSmall) {
    return absl::InvalidArgumentError(absl::StrCat(
        "not an etcd data file: ", data.size(), " bytes is too small to hold a bbolt meta page"));
  }
  bool v0 = s0 == MetaState::kValid && PlausiblePageSize(m0.page_size);
  bool v1 = false;
  bool magic1 = false;  // some candidate meta page 1 at least carries the magic number
  bool bad_version = s0 == MetaState::kBadVersion;
  if (v0) {
    MetaState s1 = CheckMeta(data, m0.page_size, &m1);
    v1 = s1 == MetaState::kValid && m1.page_size == m0.page_size;
  } else {
    for (uint32_t size : {4096u, 16384u, 65536u, 8192u, 32768u, 1024u, 2048u, 512u}) {
      MetaState s = CheckMeta(data, size, &m1);
      if (s == MetaState::kValid && m1.page_size == size) {
        v1 = true;
        break;
      }
      magic1 |= s != MetaState::kBadMagic && s != MetaState::kTooSmall;
      bad_version |= s == MetaState::kBadVersion;
    }
  }
  if (!v0 && !v1) {
    if (s0 == MetaState::kBadMagic && !magic1) {
      return absl::InvalidArgumentError(
          "not an etcd data file: no bbolt magic number at its start (expected an `etcdctl "
          "snapshot save` file or a member/snap/db)");
    }
    if (bad_version) {
      return absl::DataLossError("unsupported or corrupt bbolt file: meta page version is not 2");
    }
    return absl::DataLossError(
        "corrupt bbolt file: neither meta page is valid (bad checksum, magic or page size)");
  }
  if (v0 && v1) return m1.txid > m0.txid ? m1 : m0;
  return v0 ? m0 : m1;
}

// A page (with its overflow pages), or the page image inside an inline bucket's value.
struct Page {
  const char* base = nullptr;
  size_t span = 0;  // bytes available from `base`
  uint16_t flags = 0;
  uint16_t count = 0;
  uint64_t id = 0;  // 0 for an inline page
};

struct LeafElement {
  absl::string_view key;
  absl::string_view value;
  uint32_t flags;
};

// Bounds-checked access to the B+trees of one bbolt image.
class Tree {
 public:
  Tree(absl::string_view data, const Meta& meta) : data_(data), meta_(meta) {}

  // `fn` is called with the size of every page a walk enters.
  void set_on_page(std::function<void(size_t)> fn) { on_page_ = std::move(fn); }

  absl::StatusOr<Page> ReadPage(uint64_t id) const {
    if (id < 2 || id >= meta_.pgid) {
      return absl::DataLossError(absl::StrCat("corrupt bbolt file: reference to page ", id,
                                              ", outside the data pages 2..", meta_.pgid - 1));
    }
    const char* p = data_.data() + id * meta_.page_size;
    Page page;
    page.id = id;
    page.flags = Read<uint16_t>(p + 8);
    page.count = Read<uint16_t>(p + 10);
    uint32_t overflow = Read<uint32_t>(p + 12);
    if (Read<uint64_t>(p) != id) {
      return absl::DataLossError(
          absl::StrCat("corrupt bbolt file: page ", id, " carries page id ", Read<uint64_t>(p)));
    }
    if (uint64_t{overflow} >= meta_.pgid - id) {
      return absl::DataLossError(absl::StrCat("corrupt bbolt file: page ", id, " claims ", overflow,
                                              " overflow pages, past the last page ",
                                              meta_.pgid - 1));
    }
    page.base = p;
    page.span = (uint64_t{overflow} + 1) * meta_.page_size;
    return CheckElements(page);
  }

  // The page image of an inline bucket (bucket header root == 0).
  static absl::StatusOr<Page> InlinePage(absl::string_view bucket_value) {
    if (bucket_value.size() < kBucketHeaderSize + kPageHeaderSize) {
      return absl::DataLossError("corrupt bbolt file: inline bucket value too short");
    }
    Page page;
    page.base = bucket_value.data() + kBucketHeaderSize;
    page.span = bucket_value.size() - kBucketHeaderSize;
    page.flags = Read<uint16_t>(page.base + 8);
    page.count = Read<uint16_t>(page.base + 10);
    if (page.flags != kLeafPage) {
      return absl::DataLossError("corrupt bbolt file: inline bucket is not a leaf page");
    }
    return CheckElements(page);
  }

  // Calls `fn` for every leaf element of the tree rooted at `root` in key order. Every page is
  // visited at most once: a page reached twice means a cycle or a corrupt shared subtree.
  template <typename Fn>
  absl::Status Walk(const Page& root, Fn&& fn) {
    struct Frame {
      Page page;
      uint32_t next;
    };
    std::vector<Frame> stack;
    LB_RETURN_IF_ERROR(Visit(root));
    stack.push_back({root, 0});
    while (!stack.empty()) {
      Frame& f = stack.back();
      if (f.next >= f.page.count) {
        stack.pop_back();
        continue;
      }
      uint32_t i = f.next++;
      const char* elem = f.page.base + kPageHeaderSize + size_t{i} * kElementSize;
      size_t elem_off = kPageHeaderSize + size_t{i} * kElementSize;
      if (f.page.flags == kLeafPage) {
        uint32_t flags = Read<uint32_t>(elem);
        uint64_t pos = Read<uint32_t>(elem + 4);
        uint64_t ksize = Read<uint32_t>(elem + 8);
        uint64_t vsize = Read<uint32_t>(elem + 12);
        uint64_t start = elem_off + pos;
        if (start + ksize + vsize > f.page.span) {
          return absl::DataLossError(absl::StrCat("corrupt bbolt file: ", Where(f.page),
                                                  " element ", i, " runs past the page"));
        }
        LeafElement e{absl::string_view(f.page.base + start, ksize),
                      absl::string_view(f.page.base + start + ksize, vsize), flags};
        LB_RETURN_IF_ERROR(fn(e));
      } else {
        uint64_t pos = Read<uint32_t>(elem);
        uint64_t ksize = Read<uint32_t>(elem + 4);
        uint64_t child = Read<uint64_t>(elem + 8);
        if (elem_off + pos + ksize > f.page.span) {
          return absl::DataLossError(absl::StrCat("corrupt bbolt file: ", Where(f.page),
                                                  " element ", i, " runs past the page"));
        }
        if (stack.size() >= kMaxDepth) {
          return absl::DataLossError(
              absl::StrCat("corrupt bbolt file: tree deeper than ", kMaxDepth, " levels"));
        }
        LB_ASSIGN_OR_RETURN(Page page, ReadPage(child));
        LB_RETURN_IF_ERROR(Visit(page));
        stack.push_back({page, 0});  // invalidates `f`
      }
    }
    return absl::OkStatus();
  }

 private:
  static std::string Where(const Page& page) {
    return page.id == 0 ? std::string("inline bucket") : absl::StrCat("page ", page.id);
  }

  static absl::StatusOr<Page> CheckElements(const Page& page) {
    if (page.flags != kBranchPage && page.flags != kLeafPage) {
      return absl::DataLossError(absl::StrCat("corrupt bbolt file: ", Where(page),
                                              " should be a branch or leaf page but has flags 0x",
                                              absl::Hex(page.flags)));
    }
    if (page.flags == kBranchPage && page.count == 0) {
      return absl::DataLossError(
          absl::StrCat("corrupt bbolt file: ", Where(page), " is an empty branch page"));
    }
    if (kPageHeaderSize + size_t{page.count} * kElementSize > page.span) {
      return absl::DataLossError(absl::StrCat("corrupt bbolt file: ", Where(page), " claims ",
                                              page.count, " elements, more than fit in it"));
    }
    return page;
  }

  absl::Status Visit(const Page& page) {
    if (page.id == 0) return absl::OkStatus();  // inline pages live inside a visited page
    if (on_page_) on_page_(page.span);
    if (visited_.empty()) visited_.resize(meta_.pgid);
    if (visited_[page.id]) {
      return absl::DataLossError(absl::StrCat("corrupt bbolt file: page ", page.id,
                                              " is reached twice (a cycle in the tree)"));
    }
    visited_[page.id] = true;
    return absl::OkStatus();
  }

  absl::string_view data_;
  Meta meta_;
  std::vector<bool> visited_;
  std::function<void(size_t)> on_page_;
};

// The fields of an mvccpb.KeyValue, pointing into the serialized message.
struct KeyValueView {
  absl::string_view key;
  absl::string_view value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  bool has_key = false;
};

bool ReadVarint(const char*& p, const char* end, uint64_t* out) {
  std::string_view rest(p, static_cast<size_t>(end - p));
  if (base::ConsumeVarint(rest, *out) != base::VarintError::kNone) return false;
  p = rest.data();
  return true;
}

// Hand-decodes the few KeyValue fields we need; unknown fields are skipped by wire type.
bool ParseKeyValue(absl::string_view in, KeyValueView* kv) {
  const char* p = in.data();
  const char* end = p + in.size();
  while (p < end) {
    uint64_t tag;
    if (!ReadVarint(p, end, &tag)) return false;
    uint64_t field = tag >> 3;
    if (field == 0 || field > base::kMaxFieldNumber) return false;
    uint64_t v = 0;
    switch (tag & 7) {
      case 0:  // varint
        if (!ReadVarint(p, end, &v)) return false;
        if (field == 2) kv->create_revision = static_cast<int64_t>(v);
        if (field == 3) kv->mod_revision = static_cast<int64_t>(v);
        if (field == 4) kv->version = static_cast<int64_t>(v);
        break;
      case 1:  // fixed64
        if (end - p < 8) return false;
        p += 8;
        break;
      case 2: {  // length-delimited
        if (!ReadVarint(p, end, &v) || v > static_cast<uint64_t>(end - p)) return false;
        absl::string_view bytes(p, v);
        if (field == 1) {
          kv->key = bytes;
          kv->has_key = true;
        }
        if (field == 5) kv->value = bytes;
        p += v;
        break;
      }
      case 5:  // fixed32
        if (end - p < 4) return false;
        p += 4;
        break;
      default:  // groups are not proto3; anything else is garbage
        return false;
    }
  }
  return kv->has_key;
}

std::string RevisionString(absl::string_view rev) {
  return absl::StrCat(ReadBigEndian64(rev.data()), "_", ReadBigEndian64(rev.data() + 9));
}

std::string ErrnoText(int err) { return std::strerror(err); }

}  // namespace

absl::StatusOr<std::unique_ptr<SnapshotReader>> SnapshotReader::Open(const std::string& path,
                                                                     SnapshotOptions options) {
  std::unique_ptr<SnapshotReader> r(new SnapshotReader());
  r->name_ = path;
  auto fail = [&](absl::StatusCode code, absl::string_view what) {
    return absl::Status(code, absl::StrCat("snapshot ", path, ": ", what));
  };
  r->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (r->fd_ < 0) {
    int err = errno;
    return fail(err == ENOENT   ? absl::StatusCode::kNotFound
                : err == EACCES ? absl::StatusCode::kPermissionDenied
                                : absl::StatusCode::kInvalidArgument,
                absl::StrCat("cannot open: ", ErrnoText(err)));
  }
  struct stat st;
  if (::fstat(r->fd_, &st) != 0) {
    return fail(absl::StatusCode::kInternal, absl::StrCat("cannot stat: ", ErrnoText(errno)));
  }
  if (!S_ISREG(st.st_mode)) return fail(absl::StatusCode::kInvalidArgument, "not a regular file");
  if (st.st_size == 0) return fail(absl::StatusCode::kInvalidArgument, "the file is empty");
  // A running etcd holds an exclusive bbolt lock on its db; reading under its feet would give a
  // torn view, so share the lock as bbolt's read-only mode does, without waiting.
  if (::flock(r->fd_, LOCK_SH | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return fail(absl::StatusCode::kFailedPrecondition,
                  "the file is locked by another process (a running etcd?); stop it, or read a "
                  "copy or an `etcdctl snapshot save` file instead");
    }
    // Locks unsupported on this filesystem (some network mounts): read without one.
  }
  r->size_ = static_cast<size_t>(st.st_size);
  void* m = ::mmap(nullptr, r->size_, PROT_READ, MAP_SHARED, r->fd_, 0);
  if (m == MAP_FAILED) {
    return fail(absl::StatusCode::kInternal, absl::StrCat("cannot mmap: ", ErrnoText(errno)));
  }
  r->mapping_ = m;
  r->data_ = static_cast<const char*>(m);
  LB_RETURN_IF_ERROR(r->Load(std::move(options)));
  return r;
}

absl::StatusOr<std::unique_ptr<SnapshotReader>> SnapshotReader::FromBytes(absl::string_view bytes,
                                                                          std::string name,
                                                                          SnapshotOptions options) {
  std::unique_ptr<SnapshotReader> r(new SnapshotReader());
  r->name_ = std::move(name);
  r->data_ = bytes.data();
  r->size_ = bytes.size();
  if (bytes.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("snapshot ", r->name_, ": the file is empty"));
  }
  LB_RETURN_IF_ERROR(r->Load(std::move(options)));
  return r;
}

SnapshotReader::~SnapshotReader() {
  if (mapping_ != nullptr) ::munmap(mapping_, size_);
  if (fd_ >= 0) ::close(fd_);  // releases the shared lock
}

std::string SnapshotReader::Describe() const { return absl::StrCat("snapshot ", name_); }

absl::Status SnapshotReader::Load(SnapshotOptions options) {
  key_prefixes_ = std::move(options.key_prefixes);
  key_hash_ = options.key_hash_for_testing;
  if (key_prefixes_.size() > std::numeric_limits<uint16_t>::max()) {
    return absl::InvalidArgumentError("too many key prefixes");
  }
  auto context = [&](const absl::Status& s) { return Annotate(s, Describe()); };
  absl::string_view data(data_, size_);
  // etcdctl's file is the bbolt image (a whole number of pages, so a multiple of 512 bytes)
  // followed by the SHA-256 of that image.
  if (data.size() % 512 == kTrailerSize && data.size() > kTrailerSize) {
    has_trailer_ = true;
    data.remove_suffix(kTrailerSize);
  }
  absl::StatusOr<Meta> meta_or = SelectMeta(data);
  if (!meta_or.ok()) return context(meta_or.status());
  const Meta meta = *meta_or;
  if (!PlausiblePageSize(meta.page_size)) {
    return context(absl::DataLossError(
        absl::StrCat("corrupt bbolt file: implausible page size ", meta.page_size)));
  }
  if (meta.pgid < 3 || meta.pgid > data.size() / meta.page_size) {
    if (meta.pgid >= 3 && meta.pgid <= (uint64_t{1} << 40)) {
      return context(absl::DataLossError(absl::StrCat(
          "the file is truncated: its bbolt meta page says it holds ", meta.pgid, " pages of ",
          meta.page_size, " bytes (", meta.pgid * meta.page_size, " bytes) but it has only ",
          data.size(), has_trailer_ ? " (without the 32-byte hash trailer)" : "")));
    }
    return context(absl::DataLossError(
        absl::StrCat("corrupt bbolt file: implausible page count ", meta.pgid)));
  }
  if (!has_trailer_ && !options.skip_hash_check) {
    // As `etcdctl snapshot restore`: integrity is checked unless the operator says otherwise.
    return context(absl::FailedPreconditionError(
        "the file has no SHA-256 trailer, so it is not a file from `etcdctl snapshot save` and "
        "its integrity cannot be checked; if it is a member/snap/db copied from an etcd data "
        "dir, pass --skip-hash-check"));
  }
  if (has_trailer_ && !options.skip_hash_check) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_size = 0;
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    bool ok = md && EVP_DigestInit_ex(md.get(), EVP_sha256(), nullptr) == 1;
    for (size_t off = 0; ok && off < data.size(); off += kReleaseEvery) {
      size_t n = std::min(kReleaseEvery, data.size() - off);
      ok = EVP_DigestUpdate(md.get(), data.data() + off, n) == 1;
      Touched(n);
    }
    if (!ok || EVP_DigestFinal_ex(md.get(), digest, &digest_size) != 1 ||
        digest_size != kTrailerSize) {
      return context(absl::InternalError("SHA-256 computation failed"));
    }
    if (std::memcmp(digest, data_ + data.size(), kTrailerSize) != 0) {
      return context(absl::DataLossError(
          "the SHA-256 trailer does not match the content: the file is corrupted or was "
          "modified after `etcdctl snapshot save` (--skip-hash-check reads it anyway, at your own risk)"));
    }
  }

  // Find etcd's `key` bucket among the top-level buckets.
  Tree tree(data, meta);
  absl::StatusOr<Page> root = tree.ReadPage(meta.root);
  if (!root.ok()) return context(root.status());
  absl::string_view key_bucket;
  bool found = false;
  absl::Status st = tree.Walk(*root, [&](const LeafElement& e) -> absl::Status {
    if (e.key == "key" && (e.flags & kBucketLeafFlag)) {
      key_bucket = e.value;
      found = true;
    }
    return absl::OkStatus();
  });
  if (!st.ok()) return context(st);
  if (!found) {
    return context(
        absl::InvalidArgumentError("a bbolt file, but not etcd v3's: it has no `key` bucket"));
  }
  if (key_bucket.size() < kBucketHeaderSize) {
    return context(absl::DataLossError("corrupt bbolt file: `key` bucket header too short"));
  }
  // Pages are visited in tree order, which need not be file order, and the kernel maps up to
  // 64 KiB around each fault.
  tree.set_on_page([this](size_t span) { Touched(std::max(span, kFaultAround)); });
  uint64_t bucket_root = Read<uint64_t>(key_bucket.data());
  absl::StatusOr<Page> bucket_page =
      bucket_root == 0 ? Tree::InlinePage(key_bucket) : tree.ReadPage(bucket_root);
  if (!bucket_page.ok()) return context(bucket_page.status());

  // One pass over every revision, ascending: the last revision seen for a user key is its
  // latest. Keep only where it lives, and only for the keys asked for; a tombstone as the
  // latest means the key is deleted.
  absl::string_view previous;
  st = tree.Walk(*bucket_page, [&](const LeafElement& e) -> absl::Status {
    if (e.flags & kBucketLeafFlag) {
      return absl::DataLossError("corrupt etcd data: a nested bucket inside the `key` bucket");
    }
    bool tombstone = e.key.size() == 18 && e.key[17] == 't';
    if ((e.key.size() != 17 && !tombstone) || e.key[8] != '_') {
      return absl::DataLossError(
          absl::StrCat("corrupt etcd data: `key` bucket holds a key that is not a revision: \"",
                       absl::CHexEscape(e.key.substr(0, 32)), "\""));
    }
    if (!previous.empty() && e.key <= previous) {
      return absl::DataLossError(
          absl::StrCat("corrupt bbolt file: revision ", RevisionString(e.key), " is out of order"));
    }
    previous = e.key;
    revision_ = std::max(revision_, static_cast<int64_t>(ReadBigEndian64(e.key.data())));
    KeyValueView kv;
    if (!ParseKeyValue(e.value, &kv)) {
      return absl::DataLossError(absl::StrCat("corrupt etcd data: the value of revision ",
                                              RevisionString(e.key), " is not an mvccpb.KeyValue"));
    }
    uint16_t group;
    if (!Wanted(kv.key, &group)) return absl::OkStatus();
    Slot slot{static_cast<uint64_t>(e.value.data() - data_),
              static_cast<uint32_t>(e.value.size()), group, tombstone};
    if (const Slot* found = Find(kv.key); found != nullptr) {
      slots_[found - slots_.data()] = slot;
      return absl::OkStatus();
    }
    if (slots_.size() >= std::numeric_limits<uint32_t>::max()) {
      return absl::ResourceExhaustedError("more than 2^32 keys");
    }
    uint32_t index = static_cast<uint32_t>(slots_.size());
    slots_.push_back(slot);
    if (!by_hash_.emplace(Hash(kv.key), index).second) {
      collided_.emplace(std::string(kv.key), index);
    }
    return absl::OkStatus();
  });
  if (!st.ok()) return context(st);
  for (const Slot& s : slots_) live_ += s.deleted ? 0 : 1;
  ReleaseTouchedPages();
  return absl::OkStatus();
}

bool SnapshotReader::Wanted(absl::string_view key, uint16_t* group) const {
  *group = 0;
  if (key_prefixes_.empty()) return true;
  for (size_t i = 0; i < key_prefixes_.size(); ++i) {
    if (absl::StartsWith(key, key_prefixes_[i])) {
      *group = static_cast<uint16_t>(i);
      return true;
    }
  }
  return false;
}

absl::string_view SnapshotReader::KeyOf(const Slot& s) const {
  KeyValueView view;
  // Parsed once while loading; only a file changed under the mapping could fail here, and then
  // no key matches.
  if (!ParseKeyValue(absl::string_view(data_ + s.value_offset, s.value_size), &view)) return {};
  return view.key;
}

uint64_t SnapshotReader::Hash(absl::string_view key) const {
  return key_hash_ != nullptr ? key_hash_(key) : absl::HashOf(key);
}

const SnapshotReader::Slot* SnapshotReader::Find(absl::string_view key) const {
  if (!collided_.empty()) {
    if (auto it = collided_.find(key); it != collided_.end()) return &slots_[it->second];
  }
  auto it = by_hash_.find(Hash(key));
  if (it == by_hash_.end()) return nullptr;
  const Slot& s = slots_[it->second];
  return KeyOf(s) == key ? &s : nullptr;
}

void SnapshotReader::Touched(size_t bytes) {
  touched_since_release_ += bytes;
  if (touched_since_release_ >= kReleaseEvery) ReleaseTouchedPages();
}

void SnapshotReader::ReleaseTouchedPages() {
  touched_since_release_ = 0;
  // Clean file-backed pages: dropping them from our mapping only costs a page-cache lookup
  // if they are touched again.
  if (mapping_ != nullptr) ::madvise(mapping_, size_, MADV_DONTNEED);
}

absl::StatusOr<KeyValue> SnapshotReader::Decode(const Slot& s) const {
  KeyValueView view;
  // Already parsed once while indexing; this cannot fail unless the mapping changed under us.
  if (!ParseKeyValue(absl::string_view(data_ + s.value_offset, s.value_size), &view)) {
    return absl::DataLossError(absl::StrCat(
        Describe(), ": the file changed while being read (KeyValue no longer parses)"));
  }
  KeyValue kv;
  kv.key.assign(view.key.data(), view.key.size());
  kv.value.assign(view.value.data(), view.value.size());
  kv.create_revision = view.create_revision;
  kv.mod_revision = view.mod_revision;
  kv.version = view.version;
  return kv;
}

absl::StatusOr<std::optional<KeyValue>> SnapshotReader::Get(absl::string_view key) {
  uint16_t group;
  if (!Wanted(key, &group)) {
    return absl::FailedPreconditionError(absl::StrCat(
        Describe(), " was opened to read keys under ", absl::StrJoin(key_prefixes_, ", "),
        " only; ", key, " is not among them"));
  }
  const Slot* s = Find(key);
  if (s == nullptr || s->deleted) return std::optional<KeyValue>();
  Touched(std::max<size_t>(s->value_size, kFaultAround));
  LB_ASSIGN_OR_RETURN(KeyValue kv, Decode(*s));
  return std::optional<KeyValue>(std::move(kv));
}

absl::Status SnapshotReader::Range(absl::string_view prefix,
                                   const std::function<absl::Status(KeyValue&&)>& each) {
  // The groups whose keys may fall under `prefix`: without key_prefixes, the only one; with
  // them, `prefix` must lie within one of them (else keys outside them would be missed).
  std::vector<bool> groups(std::max<size_t>(key_prefixes_.size(), 1), key_prefixes_.empty());
  bool within = key_prefixes_.empty();
  for (size_t i = 0; i < key_prefixes_.size(); ++i) {
    within |= absl::StartsWith(prefix, key_prefixes_[i]);
    groups[i] = absl::StartsWith(prefix, key_prefixes_[i]) ||
                absl::StartsWith(key_prefixes_[i], prefix);
  }
  if (!within) {
    return absl::FailedPreconditionError(absl::StrCat(
        Describe(), " was opened to read keys under ", absl::StrJoin(key_prefixes_, ", "),
        " only; a range over \"", prefix, "\" is not within them"));
  }
  // The live keys under `prefix` with their slots, sorted. Keys are copied so that sorting does
  // not fault pages of the mapping in again and again.
  std::vector<std::pair<std::string, uint32_t>> keys;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    if (s.deleted || !groups[s.group]) continue;
    absl::string_view key = KeyOf(s);
    Touched(std::max<size_t>(s.value_size, kFaultAround));
    if (absl::StartsWith(key, prefix)) keys.emplace_back(std::string(key), i);
  }
  std::sort(keys.begin(), keys.end());
  for (auto& [key, index] : keys) {
    std::string().swap(key);  // what has been handed out is not held
    LB_ASSIGN_OR_RETURN(KeyValue kv, Decode(slots_[index]));
    // Values are visited in key order, not file order, and the kernel maps up to 64 KiB around
    // each fault, so count every decoded value as that much.
    Touched(std::max<size_t>(slots_[index].value_size, kFaultAround));
    LB_RETURN_IF_ERROR(each(std::move(kv)));
  }
  return absl::OkStatus();
}

}  // namespace lifeboat::etcd
