// SnapshotReader against files made by Debian's real etcd (testdata/etcd/make_small.sh) and
// against every kind of damage we could think of, including random mutation.
#include "etcd/snapshot.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "base/file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lifeboat::etcd {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string TestData(const std::string& name) {
  return std::string(LIFEBOAT_SOURCE_DIR) + "/testdata/etcd/" + name;
}

std::string Load(const std::string& name) {
  auto data = base::ReadFile(TestData(name));
  EXPECT_TRUE(data.ok()) << data.status();
  return data.ok() ? *data : "";
}

// All live keys, in the order Range produced them.
std::vector<std::string> Keys(KvReader& r, absl::string_view prefix) {
  std::vector<std::string> keys;
  absl::Status st = r.Range(prefix, [&](KeyValue&& kv) {
    keys.push_back(kv.key);
    return absl::OkStatus();
  });
  EXPECT_TRUE(st.ok()) << st;
  return keys;
}

// Bytes placed right against inaccessible guard pages, so that any read outside them faults
// instead of silently reading neighbouring heap memory.
class GuardedBuffer {
 public:
  explicit GuardedBuffer(absl::string_view bytes) {
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    data_pages_ = (bytes.size() + page - 1) / page;
    total_ = (data_pages_ + 2) * page;
    base_ = static_cast<char*>(
        ::mmap(nullptr, total_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ::mprotect(base_, page, PROT_NONE);
    ::mprotect(base_ + (data_pages_ + 1) * page, page, PROT_NONE);
    start_ = base_ + (data_pages_ + 1) * page - bytes.size();
    std::memcpy(start_, bytes.data(), bytes.size());
    size_ = bytes.size();
  }
  ~GuardedBuffer() { ::munmap(base_, total_); }
  absl::string_view view() const { return absl::string_view(start_, size_); }

 private:
  char* base_;
  char* start_;
  size_t size_, total_, data_pages_;
};

absl::StatusOr<std::unique_ptr<SnapshotReader>> FromBytes(absl::string_view bytes,
                                                          bool skip_hash_check = true) {
  SnapshotOptions o;
  o.skip_hash_check = skip_hash_check;
  return SnapshotReader::FromBytes(bytes, "test.db", o);
}

// --- little-endian bbolt field access for building damaged files --------------------------
uint64_t U64(const std::string& s, size_t off) {
  uint64_t v;
  std::memcpy(&v, s.data() + off, 8);
  return v;
}
uint32_t U32(const std::string& s, size_t off) {
  uint32_t v;
  std::memcpy(&v, s.data() + off, 4);
  return v;
}
void PutU64(std::string& s, size_t off, uint64_t v) { std::memcpy(s.data() + off, &v, 8); }
void PutU32(std::string& s, size_t off, uint32_t v) { std::memcpy(s.data() + off, &v, 4); }

uint64_t Fnv(const char* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<uint8_t>(p[i])) * 0x100000001b3ULL;
  return h;
}
void FixMetaChecksum(std::string& s, size_t page_offset) {
  PutU64(s, page_offset + 16 + 56, Fnv(s.data() + page_offset + 16, 56));
}

constexpr size_t kPage = 4096;  // what the test files were made with (checked below)

// The page id of the `key` bucket's root in the raw test file (not inline: it holds 300 keys).
uint64_t KeyBucketRoot(const std::string& s) {
  uint64_t root = U64(s, 16 + 16);
  size_t page = root * kPage;
  uint16_t count;
  std::memcpy(&count, s.data() + page + 10, 2);
  for (size_t i = 0; i < count; ++i) {
    size_t elem = page + 16 + i * 16;
    size_t key = elem + U32(s, elem + 4);
    if (U32(s, elem + 8) == 3 && s.compare(key, 3, "key") == 0) return U64(s, key + 3);
  }
  ADD_FAILURE() << "no key bucket";
  return 0;
}

// --- reading real files ------------------------------------------------------------------

TEST(SnapshotReaderTest, ReadsLatestValuesFromEtcdctlSnapshot) {
  auto r = SnapshotReader::Open(TestData("small.snapshot.db"));
  ASSERT_TRUE(r.ok()) << r.status();
  SnapshotReader& snap = **r;
  EXPECT_TRUE(snap.has_hash_trailer());
  EXPECT_EQ(snap.revision(), 13);
  EXPECT_EQ(snap.size(), 304u);
  EXPECT_EQ(snap.Describe(), "snapshot " + TestData("small.snapshot.db"));

  std::vector<KeyValue> kvs;
  ASSERT_TRUE(snap.Range("/registry/configmaps/kube-system/",
                         [&](KeyValue&& kv) {
                           kvs.push_back(std::move(kv));
                           return absl::OkStatus();
                         })
                  .ok());
  // c was deleted; kube-systemx/d is past the prefix boundary.
  ASSERT_EQ(kvs.size(), 2u);
  EXPECT_EQ(kvs[0].key, "/registry/configmaps/kube-system/a");
  EXPECT_EQ(kvs[0].value, "v2");
  EXPECT_EQ(kvs[0].create_revision, 2);
  EXPECT_EQ(kvs[0].mod_revision, 3);
  EXPECT_EQ(kvs[0].version, 2);
  EXPECT_EQ(kvs[1].key, "/registry/configmaps/kube-system/b");
  EXPECT_EQ(kvs[1].value, "bee");
  EXPECT_THAT(
      Keys(snap, "/registry/configmaps/kube-system"),
      ElementsAre("/registry/configmaps/kube-system/a", "/registry/configmaps/kube-system/b",
                  "/registry/configmaps/kube-systemx/d"));
}

TEST(SnapshotReaderTest, GetFindsLiveKeysOnly) {
  auto r = SnapshotReader::Open(TestData("small.snapshot.db"));
  ASSERT_TRUE(r.ok()) << r.status();
  auto p = (*r)->Get("/registry/pods/ns/p");  // deleted, then created again
  ASSERT_TRUE(p.ok() && p->has_value());
  EXPECT_EQ((*p)->value, "two");
  EXPECT_EQ((*p)->version, 1);
  EXPECT_EQ((*p)->create_revision, 10);
  EXPECT_EQ((*p)->mod_revision, 10);
  for (const char* absent : {"/registry/configmaps/kube-system/c", "/registry/events/ns/e-150",
                             "/registry/configmaps/kube-system/", "", "/nope"}) {
    auto kv = (*r)->Get(absent);
    ASSERT_TRUE(kv.ok()) << kv.status();
    EXPECT_FALSE(kv->has_value()) << absent;
  }
  auto big = (*r)->Get("/registry/secrets/kube-system/big");  // spans overflow pages
  ASSERT_TRUE(big.ok() && big->has_value());
  EXPECT_EQ((*big)->value, std::string(10000, 'x'));
}

TEST(SnapshotReaderTest, RangeIsInKeyOrderAcrossManyPages) {
  auto r = SnapshotReader::Open(TestData("small.snapshot.db"));
  ASSERT_TRUE(r.ok()) << r.status();
  std::vector<std::string> all = Keys(**r, "");
  EXPECT_EQ(all.size(), 304u);
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
  std::vector<std::string> events = Keys(**r, "/registry/events/");
  ASSERT_EQ(events.size(), 299u);
  EXPECT_EQ(events.front(), "/registry/events/ns/e-000");
  EXPECT_EQ(events.back(), "/registry/events/ns/e-299");
  auto e = (*r)->Get("/registry/events/ns/e-042");
  ASSERT_TRUE(e.ok() && e->has_value());
  EXPECT_EQ((*e)->value, "event-042");
}

TEST(SnapshotReaderTest, RangeStopsAtCallbackError) {
  auto r = SnapshotReader::Open(TestData("small.snapshot.db"));
  ASSERT_TRUE(r.ok()) << r.status();
  int calls = 0;
  absl::Status st = (*r)->Range("", [&](KeyValue&&) {
    return ++calls == 3 ? absl::CancelledError("enough") : absl::OkStatus();
  });
  EXPECT_EQ(st.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(calls, 3);
}

TEST(SnapshotReaderTest, ReadsRawMemberDataFile) {
  // No trailer means no integrity check: only when the operator asks for it.
  auto refused = SnapshotReader::Open(TestData("small.raw.db"));
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_THAT(refused.status().message(), HasSubstr("--skip-hash-check"));
  auto r = SnapshotReader::Open(TestData("small.raw.db"), {.skip_hash_check = true});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE((*r)->has_hash_trailer());
  EXPECT_EQ((*r)->size(), 304u);
  auto snap = SnapshotReader::Open(TestData("small.snapshot.db"));
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(Keys(**r, ""), Keys(**snap, ""));
}

TEST(SnapshotReaderTest, TestFilesHaveExpectedShape) {
  std::string raw = Load("small.raw.db");
  ASSERT_EQ(U32(raw, 16 + 8), kPage);
  uint64_t root = KeyBucketRoot(raw);
  ASSERT_GT(root, 1u);
  uint16_t flags;
  std::memcpy(&flags, raw.data() + root * kPage + 8, 2);
  EXPECT_EQ(flags, 0x01) << "the key bucket should be a branch page over several leaves";
}

// --- the SHA-256 trailer --------------------------------------------------------------------

TEST(SnapshotReaderTest, TamperedTrailerFailsHashCheck) {
  std::string bytes = Load("small.snapshot.db");
  bytes[bytes.size() - 1] ^= 0x01;
  auto r = FromBytes(bytes, /*skip_hash_check=*/false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(r.status().message(), HasSubstr("SHA-256"));
  EXPECT_THAT(r.status().message(), HasSubstr("test.db"));
  EXPECT_TRUE(FromBytes(bytes, /*skip_hash_check=*/true).ok());
}

TEST(SnapshotReaderTest, TamperedValueFailsHashCheck) {
  std::string bytes = Load("small.snapshot.db");
  size_t at = bytes.find("event-042");
  ASSERT_NE(at, std::string::npos);
  bytes[at] = 'E';
  auto r = FromBytes(bytes, /*skip_hash_check=*/false);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("SHA-256 trailer does not match"));
  // Skipping the check reads the tampered content as it is.
  auto skipped = FromBytes(bytes, /*skip_hash_check=*/true);
  ASSERT_TRUE(skipped.ok()) << skipped.status();
  EXPECT_EQ((*(*skipped)->Get("/registry/events/ns/e-042"))->value, "Event-042");
}

// --- files that are not etcd data at all ----------------------------------------------------

class TempFile {
 public:
  explicit TempFile(absl::string_view content) {
    path_ =
        std::filesystem::temp_directory_path() /
        ("lifeboat-snapshot-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    EXPECT_TRUE(base::WriteFileAtomic(path_, content, 0600).ok());
  }
  ~TempFile() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

TEST(SnapshotReaderTest, EmptyFile) {
  TempFile f("");
  auto r = SnapshotReader::Open(f.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("empty"));
  EXPECT_THAT(r.status().message(), HasSubstr(f.path()));
}

TEST(SnapshotReaderTest, MissingFile) {
  auto r = SnapshotReader::Open("/nonexistent/etcd.db");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr("/nonexistent/etcd.db"));
}

TEST(SnapshotReaderTest, DirectoryIsRefused) {
  auto r = SnapshotReader::Open("/tmp");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("not a regular file"));
}

TEST(SnapshotReaderTest, NotABboltFile) {
  TempFile text(std::string(100000, 'a'));
  auto r = SnapshotReader::Open(text.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("not an etcd data file"));
  TempFile tiny("hello");
  auto t = SnapshotReader::Open(tiny.path());
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(t.status().message(), HasSubstr("too small"));
}

TEST(SnapshotReaderTest, TruncatedFile) {
  std::string bytes = Load("small.raw.db");
  for (size_t keep : {bytes.size() / 2, bytes.size() - kPage, size_t{3 * kPage}, size_t{5000}}) {
    auto r = FromBytes(bytes.substr(0, keep));
    ASSERT_FALSE(r.ok()) << keep;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << keep;
    EXPECT_THAT(r.status().message(), HasSubstr("truncated")) << keep;
  }
  // A truncated snapshot loses its trailer too; still "truncated", not a hash mismatch.
  std::string snap = Load("small.snapshot.db");
  auto r = FromBytes(snap.substr(0, snap.size() - 100), /*skip_hash_check=*/false);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("truncated"));
}

// --- damaged structure ----------------------------------------------------------------------

TEST(SnapshotReaderTest, FallsBackToTheOtherMetaPage) {
  std::string bytes = Load("small.raw.db");
  // Whichever meta is current, damaging it must leave the older, still valid one in charge.
  uint64_t tx0 = U64(bytes, 16 + 48), tx1 = U64(bytes, kPage + 16 + 48);
  size_t current = tx0 > tx1 ? 0 : kPage;
  bytes[current + 16 + 20] ^= 0x40;  // inside root pgid: checksum now wrong
  auto r = FromBytes(bytes);
  // The older meta may describe a slightly older tree; either it reads or it fails cleanly.
  if (r.ok()) {
    EXPECT_GT((*r)->size(), 0u);
  } else {
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  }
  // Both metas broken: a clear message.
  bytes[(kPage - current) + 16 + 20] ^= 0x40;
  auto both = FromBytes(bytes);
  ASSERT_FALSE(both.ok());
  EXPECT_THAT(both.status().message(), HasSubstr("neither meta page is valid"));
}

TEST(SnapshotReaderTest, SnapshotMetaPagesBothPointAtTheSameTree) {
  // etcdctl's snapshot writes meta 0 (txid) and meta 1 (txid-1) for the same root, so losing
  // meta 0 changes nothing.
  std::string bytes = Load("small.snapshot.db");
  bytes[16 + 4] ^= 0x01;  // version of meta 0
  auto r = FromBytes(bytes);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->size(), 304u);
}

TEST(SnapshotReaderTest, RootOutOfRange) {
  std::string bytes = Load("small.snapshot.db");
  for (size_t meta : {size_t{0}, kPage}) {
    PutU64(bytes, meta + 16 + 16, 1u << 30);
    FixMetaChecksum(bytes, meta);
  }
  auto r = FromBytes(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(r.status().message(), HasSubstr("outside the data pages"));
}

TEST(SnapshotReaderTest, ImplausiblePageSize) {
  std::string bytes = Load("small.raw.db");
  for (size_t meta : {size_t{0}, kPage}) {
    PutU32(bytes, meta + 16 + 8, 1000);  // not a power of two
    FixMetaChecksum(bytes, meta);
  }
  auto r = FromBytes(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
}

TEST(SnapshotReaderTest, WrongPageIdInHeader) {
  std::string bytes = Load("small.raw.db");
  uint64_t root = KeyBucketRoot(bytes);
  PutU64(bytes, root * kPage, root + 1);
  auto r = FromBytes(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("carries page id"));
}

TEST(SnapshotReaderTest, CycleInTree) {
  std::string bytes = Load("small.raw.db");
  uint64_t root = KeyBucketRoot(bytes);
  PutU64(bytes, root * kPage + 16 + 8, root);  // first child of the branch = the branch itself
  auto r = FromBytes(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("reached twice"));
  // A child shared by two branch elements is refused the same way.
  std::string shared = Load("small.raw.db");
  PutU64(shared, root * kPage + 16 + 16 + 8, U64(shared, root * kPage + 16 + 8));
  auto s = FromBytes(shared);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss);
}

TEST(SnapshotReaderTest, ElementPastPageEnd) {
  std::string bytes = Load("small.raw.db");
  uint64_t root = KeyBucketRoot(bytes);
  uint64_t leaf = U64(bytes, root * kPage + 16 + 8);
  PutU32(bytes, leaf * kPage + 16 + 12, 0x7fffffff);  // vsize of the first element
  auto r = FromBytes(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("runs past the page"));
  // Too many elements for the page.
  std::string many = Load("small.raw.db");
  uint16_t count = 60000;
  std::memcpy(many.data() + leaf * kPage + 10, &count, 2);
  auto m = FromBytes(many);
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr("more than fit"));
}

TEST(SnapshotReaderTest, OverflowPastLastPage) {
  std::string bytes = Load("small.raw.db");
  uint64_t root = KeyBucketRoot(bytes);
  PutU32(bytes, root * kPage + 12, 1000000);
  auto r = FromBytes(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("overflow pages"));
}

TEST(SnapshotReaderTest, GarbageKeyValue) {
  std::string bytes = Load("small.raw.db");
  size_t at = bytes.find("/registry/events/ns/e-042");
  ASSERT_NE(at, std::string::npos);
  // The length byte of the key field now claims more bytes than the value holds.
  bytes[at - 1] = 0x7f;
  auto r = FromBytes(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("not an mvccpb.KeyValue"));
}

// Varints inside a KeyValue follow Go's rules (base/varint.h): a 10-byte varint whose last byte
// is 0 or 1 is read, one whose last byte is larger overflows and the value is refused.
TEST(SnapshotReaderTest, OverlongVarintInKeyValue) {
  const std::string original = Load("small.raw.db");
  const std::string key = "/registry/events/ns/e-042";
  size_t at = original.find(key);
  ASSERT_NE(at, std::string::npos);
  ASSERT_EQ(original.substr(at - 2, 2), std::string("\x0a\x19", 2));  // field 1, 25 bytes
  // The 27 bytes of that field become a lease (field 6) as a 10-byte varint, then a key of 14
  // bytes: same length, so the bbolt structure is untouched.
  auto with_lease = [&](char last) {
    std::string bytes = original;
    std::string field = std::string("\x30") + std::string(9, '\xff') + last + "\x0a\x0e" +
                        "/registry/xyz0";
    EXPECT_EQ(field.size(), 27u);
    bytes.replace(at - 2, 27, field);
    return bytes;
  };
  std::string fits = with_lease('\x01');
  auto r = FromBytes(fits);
  ASSERT_TRUE(r.ok()) << r.status();
  auto kv = (*r)->Get("/registry/xyz0");
  ASSERT_TRUE(kv.ok() && kv->has_value());
  EXPECT_EQ((*kv)->value, "event-042");

  std::string overflows = with_lease('\x02');
  r = FromBytes(overflows);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(r.status().message(), HasSubstr("not an mvccpb.KeyValue"));
}

// --- reading only some prefixes ------------------------------------------------------------

SnapshotOptions Prefixes(std::vector<std::string> prefixes) {
  SnapshotOptions o;
  o.key_prefixes = std::move(prefixes);
  return o;
}

TEST(SnapshotReaderFilteredTest, HoldsAndReturnsOnlyKeysUnderThePrefixes) {
  auto r = SnapshotReader::Open(
      TestData("small.snapshot.db"),
      Prefixes({"/registry/configmaps/kube-system/", "/registry/secrets/kube-system/"}));
  ASSERT_TRUE(r.ok()) << r.status();
  SnapshotReader& snap = **r;
  // a (updated), b, c (deleted) and big: nothing of the 300 events, the pod or kube-systemx/d.
  EXPECT_EQ(snap.keys_held(), 4u);
  EXPECT_EQ(snap.size(), 3u);
  EXPECT_EQ(snap.revision(), 13);  // the store's, over every key

  std::vector<KeyValue> kvs;
  ASSERT_TRUE(snap.Range("/registry/configmaps/kube-system/", [&](KeyValue&& kv) {
                    kvs.push_back(std::move(kv));
                    return absl::OkStatus();
                  }).ok());
  ASSERT_EQ(kvs.size(), 2u);
  EXPECT_EQ(kvs[0].key, "/registry/configmaps/kube-system/a");
  EXPECT_EQ(kvs[0].value, "v2");  // the latest of two revisions
  EXPECT_EQ(kvs[0].create_revision, 2);
  EXPECT_EQ(kvs[0].mod_revision, 3);
  EXPECT_EQ(kvs[0].version, 2);
  EXPECT_EQ(kvs[1].key, "/registry/configmaps/kube-system/b");
  EXPECT_THAT(Keys(snap, "/registry/configmaps/kube-system/a"),
              ElementsAre("/registry/configmaps/kube-system/a"));

  auto c = snap.Get("/registry/configmaps/kube-system/c");  // its latest revision a tombstone
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->has_value());
  auto big = snap.Get("/registry/secrets/kube-system/big");
  ASSERT_TRUE(big.ok() && big->has_value());
  EXPECT_EQ((*big)->value, std::string(10000, 'x'));
  auto none = snap.Get("/registry/secrets/kube-system/none");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST(SnapshotReaderFilteredTest, AskingOutsideThePrefixesIsRefusedNotAbsent) {
  auto r = SnapshotReader::Open(TestData("small.snapshot.db"),
                                Prefixes({"/registry/configmaps/kube-system/"}));
  ASSERT_TRUE(r.ok()) << r.status();
  for (const char* key : {"/registry/events/ns/e-042", "/registry/configmaps/kube-systemx/d",
                          "/registry/configmaps/kube-system", ""}) {
    auto kv = (*r)->Get(key);
    ASSERT_FALSE(kv.ok()) << key;
    EXPECT_EQ(kv.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(kv.status().message(), HasSubstr("/registry/configmaps/kube-system/"));
  }
  for (const char* prefix : {"", "/registry/", "/registry/configmaps/kube-system",
                             "/registry/events/"}) {
    absl::Status st = (*r)->Range(prefix, [](KeyValue&&) { return absl::OkStatus(); });
    EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << prefix << ": " << st;
  }
}

TEST(SnapshotReaderFilteredTest, DeletedAndCreatedAgain) {
  auto r = SnapshotReader::Open(TestData("small.snapshot.db"),
                                Prefixes({"/registry/pods/", "/registry/events/ns/e-15"}));
  ASSERT_TRUE(r.ok()) << r.status();
  auto p = (*r)->Get("/registry/pods/ns/p");
  ASSERT_TRUE(p.ok() && p->has_value());
  EXPECT_EQ((*p)->value, "two");
  EXPECT_EQ((*p)->version, 1);
  EXPECT_EQ((*p)->create_revision, 10);
  // e-150 .. e-159 of one transaction, e-150 deleted afterwards.
  EXPECT_EQ((*r)->keys_held(), 11u);
  std::vector<std::string> events = Keys(**r, "/registry/events/ns/e-15");
  ASSERT_EQ(events.size(), 9u);
  EXPECT_EQ(events.front(), "/registry/events/ns/e-151");
}

TEST(SnapshotReaderFilteredTest, SameAnswersAsTheUnfilteredReader) {
  auto all = SnapshotReader::Open(TestData("small.snapshot.db"));
  ASSERT_TRUE(all.ok()) << all.status();
  for (const std::vector<std::string>& prefixes :
       std::vector<std::vector<std::string>>{{"/registry/events/"},
                                             {"/registry/events/ns/e-1", "/registry/events/"},
                                             {"/registry/configmaps/", "/registry/pods/ns/"}}) {
    auto some = SnapshotReader::Open(TestData("small.snapshot.db"), Prefixes(prefixes));
    ASSERT_TRUE(some.ok()) << some.status();
    size_t live = 0;
    for (const std::string& prefix : prefixes) {
      std::vector<std::string> want = Keys(**all, prefix);
      EXPECT_EQ(Keys(**some, prefix), want) << prefix;
      for (const std::string& key : want) {
        auto a = (*all)->Get(key);
        auto b = (*some)->Get(key);
        ASSERT_TRUE(a.ok() && b.ok() && a->has_value() && b->has_value()) << key;
        EXPECT_EQ((*a)->value, (*b)->value);
        EXPECT_EQ((*a)->mod_revision, (*b)->mod_revision);
      }
      live = std::max(live, want.size());
    }
    EXPECT_GE((*some)->size(), live);
    EXPECT_LT((*some)->keys_held(), (*all)->keys_held());
  }
}

// Every user key hashing alike: each is still found by its own text, updates and deletes land on
// the right key.
TEST(SnapshotReaderFilteredTest, HashCollisionsKeepKeysApart) {
  SnapshotOptions o;
  o.key_hash_for_testing = [](absl::string_view key) -> uint64_t { return key.size() % 3; };
  auto some = SnapshotReader::Open(TestData("small.snapshot.db"), o);
  auto all = SnapshotReader::Open(TestData("small.snapshot.db"));
  ASSERT_TRUE(some.ok() && all.ok());
  EXPECT_EQ((*some)->size(), (*all)->size());
  EXPECT_EQ((*some)->keys_held(), (*all)->keys_held());
  std::vector<std::string> keys = Keys(**all, "");
  EXPECT_EQ(Keys(**some, ""), keys);
  for (const std::string& key : keys) {
    auto a = (*all)->Get(key);
    auto b = (*some)->Get(key);
    ASSERT_TRUE(a.ok() && b.ok() && b->has_value()) << key;
    EXPECT_EQ((*a)->value, (*b)->value) << key;
  }
  auto c = (*some)->Get("/registry/configmaps/kube-system/c");
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->has_value());
  auto a = (*some)->Get("/registry/configmaps/kube-system/a");
  ASSERT_TRUE(a.ok() && a->has_value());
  EXPECT_EQ((*a)->value, "v2");
}

// --- random damage ----------------------------------------------------------------------------

// Thousands of randomly damaged copies of a real file: each one either reads or fails with
// DataLoss/InvalidArgument, and no read ever leaves the buffer (guard pages would fault).
TEST(SnapshotReaderTest, RandomMutationsNeverCrash) {
  const std::string original = Load("small.raw.db");
  const std::string snapshot = Load("small.snapshot.db");
  std::mt19937_64 rng(20240611);
  int ok = 0, failed = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    std::string bytes = (iter % 4 == 3) ? snapshot : original;
    const size_t n = bytes.size();
    int mutations = 1 + static_cast<int>(rng() % 8);
    for (int m = 0; m < mutations; ++m) {
      size_t pos;
      switch (rng() % 4) {
        case 0:  // a page header or the first element headers
          pos = (rng() % (n / kPage)) * kPage + rng() % 80;
          break;
        case 1:  // anywhere
          pos = rng() % n;
          break;
        case 2:  // the meta structs, checksum repaired so the damage is believed
          pos = (rng() % 2) * kPage + 16 + rng() % 56;
          break;
        default:  // element headers deeper into pages
          pos = (rng() % (n / kPage)) * kPage + 16 + rng() % 512;
          break;
      }
      pos %= n;
      uint8_t kind = rng() % 3;
      if (kind == 0) bytes[pos] = static_cast<char>(rng());
      if (kind == 1) bytes[pos] ^= static_cast<char>(1 << (rng() % 8));
      if (kind == 2) bytes[pos] = (rng() % 2) ? '\0' : '\xff';
    }
    for (size_t meta : {size_t{0}, kPage}) {
      if (rng() % 2) FixMetaChecksum(bytes, meta);
    }
    if (rng() % 10 == 0) bytes.resize(rng() % n);
    GuardedBuffer buf(bytes);
    auto r = FromBytes(buf.view(), /*skip_hash_check=*/rng() % 4 != 0);
    if (!r.ok()) {
      ++failed;
      EXPECT_TRUE(r.status().code() == absl::StatusCode::kDataLoss ||
                  r.status().code() == absl::StatusCode::kInvalidArgument ||
                  r.status().code() == absl::StatusCode::kFailedPrecondition)
          << r.status();
      EXPECT_FALSE(r.status().message().empty());
      continue;
    }
    ++ok;
    size_t seen = 0;
    absl::Status st = (*r)->Range("", [&](KeyValue&& kv) {
      ++seen;
      return absl::OkStatus();
    });
    EXPECT_TRUE(st.ok()) << st;
    EXPECT_EQ(seen, (*r)->size());
    (void)(*r)->Get("/registry/configmaps/kube-system/a");
  }
  // Both outcomes must actually be exercised.
  EXPECT_GT(ok, 100);
  EXPECT_GT(failed, 100);
  std::printf("random mutations: %d read, %d refused\n", ok, failed);
}

}  // namespace
}  // namespace lifeboat::etcd
