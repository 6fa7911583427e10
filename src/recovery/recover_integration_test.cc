// `lifeboat recover` against the real kube-apiserver of the test bed, as an operator runs it.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "absl/strings/escaping.h"
#include "base/file.h"
#include "gtest/gtest.h"
#include "kube/codec.h"
#include "kube/static_pod.h"
#include "testing/process.h"
#include "testing/testbed.h"

namespace lifeboat::recovery {
namespace {
namespace fs = std::filesystem;
using kube::Json;
using testing::LifeboatBinary;
using testing::ProcessResult;
using testing::RunProcess;

class RecoverFromApiServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto tb = testing::Testbed::Start({});
    ASSERT_TRUE(tb.ok()) << tb.status();
    testbed_ = tb->release();
    ASSERT_TRUE(testbed_->LoadFixture().ok());
  }
  static void TearDownTestSuite() {
    delete testbed_;
    testbed_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(testbed_, nullptr);
    out_ = fs::path(testbed_->dir()) / ("out-" + std::to_string(counter_++));
  }
  ProcessResult Recover(const std::vector<std::string>& extra, const std::string& binary = "lifeboat") {
    std::vector<std::string> argv = {LifeboatBinary(binary), "recover"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return RunProcess(argv);
  }
  std::vector<std::string> Args(const fs::path& dir) {
    return {"--recovery-dir", dir.string(), "--kubeconfig", testbed_->Env("KUBECONFIG")};
  }
  static mode_t Mode(const fs::path& p) {
    struct stat st;
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
  }
  // A Secret of kube-system as the API server serves it, decoded.
  std::map<std::string, std::string> SecretData(const std::string& name) {
    auto out = testbed_->Kubectl({"-n", "kube-system", "get", "secret", name, "-o", "json"});
    EXPECT_TRUE(out.ok()) << out.status();
    std::map<std::string, std::string> data;
    Json secret = Json::parse(*out);  // the loop below reads into it: it must outlive the loop
    for (auto& [k, v] : secret["data"].items()) {
      std::string bytes;
      EXPECT_TRUE(absl::Base64Unescape(v.get<std::string>(), &bytes));
      data[k] = bytes;
    }
    return data;
  }

  static testing::Testbed* testbed_;
  static int counter_;
  fs::path out_;
};
testing::Testbed* RecoverFromApiServerTest::testbed_ = nullptr;
int RecoverFromApiServerTest::counter_ = 0;

TEST_F(RecoverFromApiServerTest, WritesBootstrapControlPlane) {
  ProcessResult r = Recover(Args(out_));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("found DaemonSet kube-system/kube-apiserver"), std::string::npos) << r.out;

  std::set<std::string> manifests;
  for (auto& e : fs::directory_iterator(out_ / "bootstrap-manifests")) {
    manifests.insert(e.path().filename());
    EXPECT_EQ(Mode(e.path()), 0600u) << e.path();
    auto docs = kube::ParseDocuments(*base::ReadFile(e.path()));
    ASSERT_TRUE(docs.ok()) << docs.status();
    ASSERT_EQ(docs->size(), 1u);
    const Json& pod = docs->front();
    EXPECT_EQ(pod["kind"], "Pod");
    EXPECT_EQ(pod["metadata"]["namespace"], "kube-system");
    EXPECT_TRUE(kube::ApiObjectReferences(pod["spec"]).empty())
        << e.path() << " still references API objects";
    // Every hostPath under bootstrap-secrets has its files in tls/.
    for (auto& v : pod["spec"]["volumes"]) {
      std::string path = v["hostPath"]["path"];
      const std::string prefix = "/etc/kubernetes/bootstrap-secrets/";
      if (path.rfind(prefix, 0) == 0) {
        EXPECT_TRUE(fs::is_directory(out_ / "tls" / path.substr(prefix.size()))) << path;
      }
    }
  }
  // Old clusters' `component` label counts too (the fixture's scheduler has only that).
  EXPECT_EQ(manifests, (std::set<std::string>{"bootstrap-kube-apiserver.yaml",
                                              "bootstrap-kube-controller-manager.yaml",
                                              "bootstrap-kube-scheduler.yaml"}));
  // Secret files hold the API's bytes, owner-only, in owner-only directories.
  for (auto& [key, bytes] : SecretData("kube-apiserver")) {
    fs::path f = out_ / "tls/secrets/kube-apiserver" / key;
    EXPECT_EQ(*base::ReadFile(f), bytes) << f;
    EXPECT_EQ(Mode(f), 0600u) << f;
  }
  EXPECT_EQ(Mode(out_ / "tls/secrets/kube-apiserver"), 0700u);
  EXPECT_EQ(Mode(out_), 0700u);
  // Nothing in the recovery dir is readable by anyone but its owner.
  for (auto& e : fs::recursive_directory_iterator(out_)) {
    if (e.is_directory()) {
      EXPECT_EQ(Mode(e.path()), 0700u) << e.path();
    } else {
      EXPECT_EQ(Mode(e.path()) & 077, 0u) << e.path();
      EXPECT_NE(Mode(e.path()) & 0400, 0u) << e.path();
    }
  }
  // items with defaultMode 0400 keep it.
  EXPECT_EQ(Mode(out_ / "tls/volumes/bootstrap-kube-apiserver/etcd-client/client.key"), 0400u);
  // The env var from a Secret is a literal now.
  std::string apiserver = *base::ReadFile(out_ / "bootstrap-manifests/bootstrap-kube-apiserver.yaml");
  EXPECT_NE(apiserver.find(SecretData("env-secret")["token"]), std::string::npos);
  // The unreferenced distractor Secret is not read out.
  EXPECT_FALSE(fs::exists(out_ / "tls/secrets/unused-credentials"));
  // auth/kubeconfig works on its own.
  EXPECT_EQ(Mode(out_ / "auth/kubeconfig"), 0600u);
  auto kc = RunProcess({testbed_->Env("KUBECTL"), "--kubeconfig", (out_ / "auth/kubeconfig").string(), "get", "ns", "kube-system"});
  EXPECT_EQ(kc.exit_code, 0) << kc.err;
}

TEST_F(RecoverFromApiServerTest, DeterministicAndReplacesPreviousRun) {
  ASSERT_EQ(Recover(Args(out_)).exit_code, 0);
  auto first = testing::ReadTree(out_);
  ProcessResult again = Recover(Args(out_), "bootkube");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(testing::ReadTree(out_), first);
}

TEST_F(RecoverFromApiServerTest, MissingReferencedObjectsAreAllNamed) {
  ASSERT_TRUE(testbed_->Kubectl({"-n", "kube-system", "create", "secret", "generic", "doomed", "--from-literal=a=b"}).ok());
  ASSERT_TRUE(testbed_->Kubectl({"-n", "kube-system", "create", "configmap", "doomed-cm", "--from-literal=a=b"}).ok());
  ASSERT_TRUE(testbed_->Kubectl({"-n", "kube-system", "create", "deployment", "extra-scheduler",
                                 "--image=k8s.gcr.io/kube-scheduler:v1.20.2"}).ok());
  auto patch = R"({"metadata":{"labels":{"k8s-app":"kube-scheduler"}},"spec":{"template":{"spec":{
      "volumes":[{"name":"a","secret":{"secretName":"doomed"}},{"name":"b","configMap":{"name":"doomed-cm"}}]}}}})";
  ASSERT_TRUE(testbed_->Kubectl({"-n", "kube-system", "patch", "deployment", "extra-scheduler", "-p", patch}).ok());
  ASSERT_TRUE(testbed_->Kubectl({"-n", "kube-system", "delete", "secret", "doomed"}).ok());
  ASSERT_TRUE(testbed_->Kubectl({"-n", "kube-system", "delete", "configmap", "doomed-cm"}).ok());
  ProcessResult r = Recover(Args(out_));
  (void)testbed_->Kubectl({"-n", "kube-system", "delete", "deployment", "extra-scheduler"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("Secret kube-system/doomed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("ConfigMap kube-system/doomed-cm"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out_)) << "nothing half-written";
}

// The test bed's kubeconfigs have bootkube's shape (testbed.sh: one unnamed context, no
// current-context), so every case here runs `recover` on it; this one checks that it does, and
// that the cluster's tls-server-name is what the server's certificate is verified against.
TEST_F(RecoverFromApiServerTest, BootkubeShapedKubeconfigAndTlsServerName) {
  std::string text = *base::ReadFile(testbed_->Env("KUBECONFIG"));
  auto docs = kube::ParseDocuments(text);
  ASSERT_TRUE(docs.ok() && docs->size() == 1);
  const Json& kc = (*docs)[0];
  EXPECT_FALSE(kc.contains("current-context")) << text;
  ASSERT_EQ(kc["contexts"].size(), 1u);
  EXPECT_FALSE(kc["contexts"][0].contains("name")) << text;

  fs::path dir = testbed_->dir();
  std::string server = testbed_->Env("APISERVER_URL");
  auto with_name = [&](const std::string& file, const std::string& name) {
    std::string t = text;
    size_t at = t.find("server: ");
    t.insert(t.find('\n', at) + 1, "    tls-server-name: " + name + "\n");
    std::ofstream(dir / file) << t;
    return (dir / file).string();
  };
  // In the API server's certificate (not the URL's host, 127.0.0.1): accepted.
  ProcessResult r = Recover({"--recovery-dir", out_.string(), "--kubeconfig",
                             with_name("sni-good.kubeconfig", "kubernetes.default.svc")});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  // Not in it: refused, although the URL's host is.
  r = Recover({"--recovery-dir", (out_.string() + "-bad"), "--kubeconfig",
               with_name("sni-bad.kubeconfig", "not-the-apiserver.example")});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("TLS"), std::string::npos) << r.err;
}

TEST_F(RecoverFromApiServerTest, ClearErrorsAndNothingWritten) {
  fs::path dir = testbed_->dir();
  // Bad credentials: a kubeconfig without the client certificate.
  std::string server = testbed_->Env("APISERVER_URL");
  std::ofstream(dir / "anon.kubeconfig") << "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
      "clusters: [{name: c, cluster: {server: \"" << server << "\", certificate-authority: \""
      << testbed_->Env("CA_CERT") << "\"}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
      "users: [{name: u, user: {token: not-a-valid-token}}]\n";
  // A server with an untrusted certificate: no CA given, system store does not know ours.
  std::ofstream(dir / "untrusted.kubeconfig") << "current-context: x\n"
      "clusters: [{name: c, cluster: {server: \"" << server << "\"}}]\n"
      "contexts: [{name: x, context: {cluster: c}}]\n";
  std::ofstream(dir / "unreachable.kubeconfig") << "current-context: x\n"
      "clusters: [{name: c, cluster: {server: \"https://127.0.0.1:1\"}}]\n"
      "contexts: [{name: x, context: {cluster: c}}]\n";
  std::ofstream(dir / "malformed.kubeconfig") << "clusters: [unclosed\n";
  struct Case {
    std::string kubeconfig;
    fs::path out;
    std::string expect;
  } cases[] = {
      {(dir / "anon.kubeconfig").string(), out_, "HTTP 401"},
      {(dir / "untrusted.kubeconfig").string(), out_, "TLS"},
      {(dir / "unreachable.kubeconfig").string(), out_, "cannot reach the API server"},
      {(dir / "malformed.kubeconfig").string(), out_, "invalid YAML"},
      {(dir / "missing.kubeconfig").string(), out_, "cannot read kubeconfig"},
      {testbed_->Env("KUBECONFIG"), "/proc/lifeboat-recovery", "cannot create"},
  };
  for (const auto& c : cases) {
    ProcessResult r = Recover({"--recovery-dir", c.out.string(), "--kubeconfig", c.kubeconfig});
    EXPECT_EQ(r.exit_code, 1) << c.kubeconfig << "\n" << r.out << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.kubeconfig << ": " << r.err;
    EXPECT_EQ(r.err.find("terminate called"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out_)) << c.kubeconfig;
  }
}

TEST_F(RecoverFromApiServerTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Recover({"--kubeconfig", "x"}).exit_code, 2) << "--recovery-dir is required";
  EXPECT_EQ(Recover({"--recovery-dir", "x", "--no-such-flag"}).exit_code, 2);
  ProcessResult help = Recover({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--etcd-servers"), std::string::npos);
}

}  // namespace
}  // namespace lifeboat::recovery
