// `lifeboat recover` straight from etcd (live and snapshot) on the real test bed: the same
// cluster recovered through the API server and through etcd gives identical recovery dirs,
// with and without encryption at rest.
#include <filesystem>
#include <fstream>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "base/file.h"
#include "gtest/gtest.h"
#include "testing/process.h"
#include "testing/testbed.h"

namespace lifeboat::recovery {
namespace {
namespace fs = std::filesystem;
using testing::LifeboatBinary;
using testing::ProcessResult;
using testing::RunProcess;


std::vector<std::string> EtcdFlags(const testing::Testbed& tb) {
  return {"--etcd-servers", tb.Env("ETCD_ENDPOINTS"), "--etcd-ca-path", tb.Env("ETCD_CA"),
          "--etcd-certificate-path", tb.Env("ETCD_CERT"), "--etcd-private-key-path", tb.Env("ETCD_KEY")};
}

ProcessResult Recover(const testing::Testbed& tb, const fs::path& out, std::vector<std::string> extra,
                      const std::string& binary = "lifeboat") {
  std::vector<std::string> argv = {LifeboatBinary(binary), "recover", "--recovery-dir", out.string(),
                                   "--kubeconfig", tb.Env("KUBECONFIG")};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return RunProcess(argv);
}

// etcdctl against the test bed's etcd.
ProcessResult Etcdctl(const testing::Testbed& tb, std::vector<std::string> args) {
  std::vector<std::string> argv = {"etcdctl", "--endpoints", tb.Env("ETCD_ENDPOINTS"), "--cacert",
                                   tb.Env("ETCD_CA"), "--cert", tb.Env("ETCD_CERT"), "--key", tb.Env("ETCD_KEY")};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProcess(argv, {{"ETCDCTL_API", "3"}});
}

class RecoverFromEtcdTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto tb = testing::Testbed::Start({});
    ASSERT_TRUE(tb.ok()) << tb.status();
    testbed_ = tb->release();
    ASSERT_TRUE(testbed_->LoadFixture().ok());
    fs::path dir = testbed_->dir();
    ProcessResult api = Recover(*testbed_, dir / "via-api", {});
    ASSERT_EQ(api.exit_code, 0) << api.out << api.err;
  }
  static void TearDownTestSuite() {
    delete testbed_;
    testbed_ = nullptr;
  }
  fs::path Dir() { return testbed_->dir(); }
  static testing::Testbed* testbed_;
};
testing::Testbed* RecoverFromEtcdTest::testbed_ = nullptr;

TEST_F(RecoverFromEtcdTest, EtcdAndApiServerGiveIdenticalRecoveryDirs) {
  ProcessResult r = Recover(*testbed_, Dir() / "via-etcd", EtcdFlags(*testbed_), "bootkube");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("etcd at"), std::string::npos) << r.out;
  auto api = testing::ReadTree(Dir() / "via-api"), etcd = testing::ReadTree(Dir() / "via-etcd");
  EXPECT_EQ(api.size(), etcd.size());
  for (const auto& [path, content] : api) EXPECT_EQ(etcd[path], content) << path;
}

TEST_F(RecoverFromEtcdTest, SnapshotFileGivesIdenticalRecoveryDir) {
  fs::path snap = Dir() / "backup.db";
  ProcessResult save = Etcdctl(*testbed_, {"snapshot", "save", snap.string()});
  ASSERT_EQ(save.exit_code, 0) << save.err;
  ProcessResult r = Recover(*testbed_, Dir() / "via-snapshot", {"--etcd-snapshot", snap.string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(testing::ReadTree(Dir() / "via-snapshot"), testing::ReadTree(Dir() / "via-api"));
}

TEST_F(RecoverFromEtcdTest, ClearErrorsNeverACrash) {
  std::ofstream(Dir() / "garbage.db") << std::string(4096, 'x');
  struct Case {
    std::vector<std::string> flags;
    std::string expect;
  } cases[] = {
      {{"--etcd-servers", "https://127.0.0.1:1", "--etcd-ca-path", testbed_->Env("ETCD_CA")}, "127.0.0.1:1"},
      {{"--etcd-servers", testbed_->Env("ETCD_ENDPOINTS"), "--etcd-ca-path", testbed_->Env("ETCD_CA")},
       "certificate"},  // the test bed's etcd wants a client certificate
      {{"--etcd-servers", testbed_->Env("ETCD_ENDPOINTS"), "--etcd-ca-path", (Dir() / "nope.pem").string()},
       "nope.pem"},
      {{"--etcd-snapshot", (Dir() / "garbage.db").string()}, "garbage.db"},
      {{"--etcd-snapshot", (Dir() / "missing.db").string()}, "missing.db"},
      {{"--etcd-servers", testbed_->Env("ETCD_ENDPOINTS"), "--etcd-prefix", "/elsewhere", "--etcd-ca-path",
        testbed_->Env("ETCD_CA"), "--etcd-certificate-path", testbed_->Env("ETCD_CERT"),
        "--etcd-private-key-path", testbed_->Env("ETCD_KEY")},
       "no control plane found: no DaemonSet or Deployment in namespace kube-system "},
      {{"--etcd-servers", testbed_->Env("ETCD_ENDPOINTS"), "--namespace", "not-the-control-plane",
        "--etcd-ca-path", testbed_->Env("ETCD_CA"), "--etcd-certificate-path",
        testbed_->Env("ETCD_CERT"), "--etcd-private-key-path", testbed_->Env("ETCD_KEY")},
       "no control plane found: no DaemonSet or Deployment in namespace not-the-control-plane "},
  };
  for (const auto& c : cases) {
    fs::path out = Dir() / "err-out";
    ProcessResult r = Recover(*testbed_, out, c.flags);
    EXPECT_EQ(r.exit_code, 1) << c.expect << "\n" << r.out << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.expect << ": " << r.err;
    EXPECT_FALSE(fs::exists(out));
  }
}

// Mutates the cluster, so it runs after the tests that compare against the initial state.
TEST_F(RecoverFromEtcdTest, SnapshotAfterUpdatesAndDeletesMatchesLiveEtcd) {
  // Update a referenced Secret twice, delete a component, re-create and delete a Secret.
  for (const char* v : {"first", "second"}) {
    ASSERT_TRUE(testbed_->Kubectl({"-n", "kube-system", "patch", "secret", "env-secret", "-p",
                                   std::string(R"({"stringData":{"token":")") + v + R"("}})"}).ok());
  }
  ASSERT_TRUE(testbed_->Kubectl({"-n", "kube-system", "delete", "deployment", "kube-scheduler"}).ok());
  fs::path snap = Dir() / "after-changes.db";
  ASSERT_EQ(Etcdctl(*testbed_, {"snapshot", "save", snap.string()}).exit_code, 0);

  ASSERT_EQ(Recover(*testbed_, Dir() / "changed-etcd", EtcdFlags(*testbed_)).exit_code, 0);
  ProcessResult r = Recover(*testbed_, Dir() / "changed-snapshot", {"--etcd-snapshot", snap.string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto live = testing::ReadTree(Dir() / "changed-etcd");
  EXPECT_EQ(testing::ReadTree(Dir() / "changed-snapshot"), live);
  EXPECT_FALSE(live.count("bootstrap-manifests/bootstrap-kube-scheduler.yaml")) << "deleted objects stay deleted";
  EXPECT_NE(live["bootstrap-manifests/bootstrap-kube-apiserver.yaml"].find("value: second"), std::string::npos)
      << "updated objects show their last value";

  // A raw copy of the data file (no SHA-256 trailer), as taken from a dead member's disk.
  ASSERT_TRUE(testbed_->Script("stop", {"etcd"}).ok());
  fs::path raw = Dir() / "member-db-copy";
  fs::copy_file(fs::path(testbed_->Env("ETCD_DATA_DIR")) / "member/snap/db", raw);
  ASSERT_TRUE(testbed_->Script("start", {"etcd"}).ok());
  ProcessResult strict = Recover(*testbed_, Dir() / "raw-strict", {"--etcd-snapshot", raw.string()});
  EXPECT_EQ(strict.exit_code, 1);
  EXPECT_NE(strict.err.find("--skip-hash-check"), std::string::npos) << strict.err;
  ProcessResult lenient = Recover(*testbed_, Dir() / "raw", {"--etcd-snapshot", raw.string(), "--skip-hash-check"});
  ASSERT_EQ(lenient.exit_code, 0) << lenient.err;
  EXPECT_EQ(testing::ReadTree(Dir() / "raw"), live);

  // Truncated and empty backups: a clear message, nothing written.
  std::string bytes = *base::ReadFile(snap);
  ASSERT_TRUE(base::WriteFileAtomic(Dir() / "truncated.db", bytes.substr(0, bytes.size() / 2), 0600).ok());
  ASSERT_TRUE(base::WriteFileAtomic(Dir() / "empty.db", "", 0600).ok());
  for (const char* bad : {"truncated.db", "empty.db"}) {
    ProcessResult b = Recover(*testbed_, Dir() / "bad-out", {"--etcd-snapshot", (Dir() / bad).string()});
    EXPECT_EQ(b.exit_code, 1) << bad;
    EXPECT_NE(b.err.find(bad), std::string::npos) << b.err;
    EXPECT_FALSE(fs::exists(Dir() / "bad-out"));
  }
}

// One test bed per encryption provider: the API server encrypts Secrets and ConfigMaps at rest.
class RecoverEncryptedTest : public ::testing::TestWithParam<std::string> {};

TEST_P(RecoverEncryptedTest, DecryptsWithTheApiServersConfigAndFailsClearlyWithTheWrongKey) {
  const std::string provider = GetParam();
  fs::path cfg_dir = fs::temp_directory_path() / ("lb-enc-" + provider + "-" + std::to_string(::getpid()));
  fs::create_directories(cfg_dir);
  auto config = [&](const std::string& key_byte) {
    std::string key = absl::Base64Escape(std::string(32, key_byte[0]));
    return "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
           "- resources: [secrets, configmaps]\n  providers:\n  - " + provider +
           ":\n      keys:\n      - name: key1\n        secret: " + key + "\n  - identity: {}\n";
  };
  std::ofstream(cfg_dir / "encryption.yaml") << config("k");
  std::ofstream(cfg_dir / "wrong.yaml") << config("w");
  auto tb = testing::Testbed::Start({.encryption_config = (cfg_dir / "encryption.yaml").string()});
  ASSERT_TRUE(tb.ok()) << tb.status();
  ASSERT_TRUE((*tb)->LoadFixture().ok());
  fs::path dir = (*tb)->dir();

  ProcessResult raw = Etcdctl(**tb, {"get", "/registry/secrets/kube-system/kube-apiserver", "--print-value-only"});
  ASSERT_EQ(raw.exit_code, 0) << raw.err;
  EXPECT_TRUE(absl::StartsWith(raw.out, "k8s:enc:" + provider + ":v1:key1:")) << "not encrypted at rest";

  ASSERT_EQ(Recover(**tb, dir / "via-api", {}).exit_code, 0);
  std::vector<std::string> flags = EtcdFlags(**tb);
  flags.push_back("--encryption-provider-config");
  flags.push_back((cfg_dir / "encryption.yaml").string());
  ProcessResult r = Recover(**tb, dir / "via-etcd", flags);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(testing::ReadTree(dir / "via-etcd"), testing::ReadTree(dir / "via-api"));

  flags.back() = (cfg_dir / "wrong.yaml").string();
  ProcessResult wrong = Recover(**tb, dir / "via-wrong-key", flags);
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("key1"), std::string::npos) << wrong.err;
  EXPECT_NE(wrong.err.find(provider), std::string::npos) << wrong.err;
  EXPECT_NE(wrong.err.find("/registry/"), std::string::npos) << wrong.err;
  EXPECT_FALSE(fs::exists(dir / "via-wrong-key"));

  flags.pop_back();
  flags.pop_back();
  ProcessResult none = Recover(**tb, dir / "via-no-config", flags);
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("--encryption-provider-config"), std::string::npos) << none.err;
  fs::remove_all(cfg_dir);
}

INSTANTIATE_TEST_SUITE_P(Providers, RecoverEncryptedTest, ::testing::Values("aescbc", "aesgcm", "secretbox"));

}  // namespace
}  // namespace lifeboat::recovery
