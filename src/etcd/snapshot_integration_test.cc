// SnapshotReader on files that Debian's real etcd writes right now: `etcdctl snapshot save`
// output and a member's own data file.
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/file.h"
#include "etcd/etcd_testing.h"
#include "etcd/snapshot.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lifeboat::etcd {
namespace {

using ::testing::ElementsAre;
using testing::EtcdServer;
using ::testing::HasSubstr;

std::map<std::string, std::string> Contents(KvReader& r, absl::string_view prefix) {
  std::map<std::string, std::string> out;
  absl::Status st = r.Range(prefix, [&](KeyValue&& kv) {
    out[kv.key] = kv.value;
    return absl::OkStatus();
  });
  EXPECT_TRUE(st.ok()) << st;
  return out;
}

// Puts, overwrites and deletes through etcdctl and bulk writes; returns what should be live.
std::map<std::string, std::string> Populate(EtcdServer& etcd) {
  std::map<std::string, std::string> want;
  auto put = [&](const std::string& k, const std::string& v) {
    EXPECT_TRUE(etcd.Etcdctl({"put", k, v}).ok());
    want[k] = v;
  };
  auto del = [&](const std::string& k) {
    EXPECT_TRUE(etcd.Etcdctl({"del", k}).ok());
    want.erase(k);
  };
  put("/registry/configmaps/kube-system/a", "one");
  put("/registry/configmaps/kube-system/a", "two");
  put("/registry/configmaps/kube-system/b", "bee");
  put("/registry/configmaps/kube-system/gone", "soon");
  del("/registry/configmaps/kube-system/gone");
  put("/registry/configmaps/kube-systemx/c", "not in kube-system");
  std::vector<std::pair<std::string, std::string>> bulk;
  for (int i = 0; i < 3000; ++i) {
    std::string k = absl::StrFormat("/registry/secrets/ns/s-%04d", i);
    std::string v = absl::StrCat("secret-", i, std::string(i % 7 == 0 ? 5000 : 50, 's'));
    bulk.emplace_back(k, v);
    want[k] = v;
  }
  EXPECT_TRUE(etcd.PutMany(bulk).ok());
  for (int i = 0; i < 3000; i += 10) {  // overwrite every tenth, delete every 25th
    std::string k = absl::StrFormat("/registry/secrets/ns/s-%04d", i);
    if (i % 50 == 0) {
      EXPECT_TRUE(etcd.Etcdctl({"del", k}).ok());
      want.erase(k);
    } else {
      EXPECT_TRUE(etcd.PutMany({{k, "overwritten"}}).ok());
      want[k] = "overwritten";
    }
  }
  return want;
}

TEST(SnapshotIntegrationTest, EtcdctlSnapshotShowsLatestValuesAndNoDeletedKeys) {
  auto etcd = EtcdServer::Start({.tls = true});
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  auto want = Populate(**etcd);
  const std::string path = (*etcd)->dir() + "/snap.db";
  ASSERT_TRUE((*etcd)->Etcdctl({"snapshot", "save", path}).ok());

  auto r = SnapshotReader::Open(path);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE((*r)->has_hash_trailer());
  EXPECT_EQ(Contents(**r, ""), want);
  EXPECT_EQ((*r)->size(), want.size());
  std::vector<std::string> kube_system;
  for (const auto& [k, v] : Contents(**r, "/registry/configmaps/kube-system/")) {
    kube_system.push_back(k);
  }
  EXPECT_THAT(kube_system, ElementsAre("/registry/configmaps/kube-system/a",
                                       "/registry/configmaps/kube-system/b"));
  auto a = (*r)->Get("/registry/configmaps/kube-system/a");
  ASSERT_TRUE(a.ok() && a->has_value());
  EXPECT_EQ((*a)->version, 2);
  auto gone = (*r)->Get("/registry/configmaps/kube-system/gone");
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());

  // The snapshot's revision is the store's.
  auto status = (*etcd)->Etcdctl({"get", "/registry/configmaps/kube-system/a", "-w", "json"});
  ASSERT_TRUE(status.ok());
  EXPECT_THAT(*status, HasSubstr(absl::StrCat("\"revision\":", (*r)->revision())));
}

TEST(SnapshotIntegrationTest, RawMemberDataFile) {
  auto etcd = EtcdServer::Start();
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  auto want = Populate(**etcd);

  // While etcd runs it holds the bbolt lock: we refuse rather than read a moving file.
  auto locked = SnapshotReader::Open((*etcd)->db_file());
  ASSERT_FALSE(locked.ok());
  EXPECT_EQ(locked.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(locked.status().message(), HasSubstr("locked"));

  (*etcd)->Stop();
  const std::string copy = (*etcd)->dir() + "/db-copy";
  std::filesystem::copy_file((*etcd)->db_file(), copy);
  auto r = SnapshotReader::Open(copy, {.skip_hash_check = true});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE((*r)->has_hash_trailer());
  EXPECT_EQ(Contents(**r, ""), want);
  // The stopped member's own file reads the same, and is left byte-for-byte unchanged.
  auto before = base::ReadFile((*etcd)->db_file());
  auto direct = SnapshotReader::Open((*etcd)->db_file(), {.skip_hash_check = true});
  ASSERT_TRUE(direct.ok()) << direct.status();
  EXPECT_EQ(Contents(**direct, "/registry/secrets/"), Contents(**r, "/registry/secrets/"));
  direct->reset();
  EXPECT_EQ(*base::ReadFile((*etcd)->db_file()), *before);
}

TEST(SnapshotIntegrationTest, TamperedTrailerFailsHashCheck) {
  auto etcd = EtcdServer::Start();
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  ASSERT_TRUE((*etcd)->Etcdctl({"put", "/k", "v"}).ok());
  const std::string path = (*etcd)->dir() + "/snap.db";
  ASSERT_TRUE((*etcd)->Etcdctl({"snapshot", "save", path}).ok());
  auto bytes = base::ReadFile(path);
  ASSERT_TRUE(bytes.ok());
  std::string tampered = *bytes;
  tampered[tampered.size() - 7] ^= 0x20;
  ASSERT_TRUE(base::WriteFileAtomic(path, tampered, 0600).ok());

  auto r = SnapshotReader::Open(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(r.status().message(), HasSubstr(path));
  EXPECT_THAT(r.status().message(), HasSubstr("SHA-256"));
  auto skipped = SnapshotReader::Open(path, {.skip_hash_check = true});
  ASSERT_TRUE(skipped.ok()) << skipped.status();
  EXPECT_EQ((*(*skipped)->Get("/k"))->value, "v");
  // etcd's own restore agrees that the file is damaged.
  auto restore =
      (*etcd)->Etcdctl({"snapshot", "restore", path, "--data-dir", (*etcd)->dir() + "/restored"});
  EXPECT_FALSE(restore.ok());
}

// The reader limited to some prefixes, on a store that was compacted and written again: it holds
// only the keys under the prefixes and answers for them as the whole store does.
TEST(SnapshotIntegrationTest, PrefixesOnlyAfterCompaction) {
  auto etcd = EtcdServer::Start();
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  auto want = Populate(**etcd);
  auto rev = (*etcd)->Etcdctl({"get", "/registry/configmaps/kube-system/a", "-w", "fields"});
  ASSERT_TRUE(rev.ok());
  size_t at = rev->find("\"Revision\" : ");
  ASSERT_NE(at, std::string::npos) << *rev;
  std::string revision = rev->substr(at + 14, rev->find('\n', at) - at - 14);
  ASSERT_TRUE((*etcd)->Etcdctl({"compact", revision}).ok()) << revision;
  // After the compaction: an update, a delete and a re-creation under the prefixes.
  for (auto [k, v] : {std::pair<std::string, std::string>{"/registry/configmaps/kube-system/a", "three"},
                      {"/registry/configmaps/kube-system/gone", "back"},
                      {"/registry/secrets/ns/s-0001", "after compaction"}}) {
    ASSERT_TRUE((*etcd)->Etcdctl({"put", k, v}).ok());
    want[k] = v;
  }
  ASSERT_TRUE((*etcd)->Etcdctl({"del", "/registry/configmaps/kube-system/b"}).ok());
  want.erase("/registry/configmaps/kube-system/b");
  const std::string path = (*etcd)->dir() + "/snap.db";
  ASSERT_TRUE((*etcd)->Etcdctl({"snapshot", "save", path}).ok());

  SnapshotOptions o;
  o.key_prefixes = {"/registry/configmaps/kube-system/", "/registry/secrets/ns/s-00"};
  auto r = SnapshotReader::Open(path, o);
  ASSERT_TRUE(r.ok()) << r.status();
  auto all = SnapshotReader::Open(path);
  ASSERT_TRUE(all.ok()) << all.status();
  for (const std::string& prefix : o.key_prefixes) {
    std::map<std::string, std::string> expected;
    for (const auto& [k, v] : want) {
      if (k.rfind(prefix, 0) == 0) expected[k] = v;
    }
    EXPECT_EQ(Contents(**r, prefix), expected) << prefix;
    EXPECT_EQ(Contents(**all, prefix), expected) << prefix;
  }
  EXPECT_THAT(Contents(**r, "/registry/configmaps/kube-system/"),
              ElementsAre(std::pair<const std::string, std::string>{
                              "/registry/configmaps/kube-system/a", "three"},
                          std::pair<const std::string, std::string>{
                              "/registry/configmaps/kube-system/gone", "back"}));
  // s-0000 .. s-0099 and the three configmaps ever written under kube-system (b deleted, still
  // held as deleted), nothing of the other 2 900 secrets or kube-systemx.
  EXPECT_LE((*r)->keys_held(), 103u);
  EXPECT_GE((*r)->keys_held(), (*r)->size());
  EXPECT_EQ((*r)->revision(), (*all)->revision());
  auto outside = (*r)->Get("/registry/secrets/ns/s-2000");
  EXPECT_EQ(outside.status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace lifeboat::etcd
