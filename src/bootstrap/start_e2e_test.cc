// `lifeboat start` on the real test bed: etcd, kube-apiserver, controller manager, scheduler and
// a hollow kubelet node whose static-pod dir receives the bootstrap control plane.
#include <csignal>
#include <filesystem>
#include <fstream>

#include "base/file.h"
#include "gtest/gtest.h"
#include "kube/codec.h"
#include "testing/process.h"
#include "testing/testbed.h"

namespace lifeboat::bootstrap {
namespace {
namespace fs = std::filesystem;
using testing::LifeboatBinary;
using testing::RunProcess;
using testing::Subprocess;

constexpr int kMinute = 60 * 1000;

class StartTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto tb = testing::Testbed::Start({.controllers = true, .nodes = 1});
    ASSERT_TRUE(tb.ok()) << tb.status();
    testbed_ = tb->release();
  }
  static void TearDownTestSuite() {
    delete testbed_;
    testbed_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(testbed_, nullptr);
    work_ = fs::path(testbed_->dir()) / ("start-" + std::to_string(counter_++));
    fs::create_directories(work_);
    secrets_ = work_ / "bootstrap-secrets";
    manifests_ = testbed_->Env("NODE_1_MANIFESTS");
    ASSERT_FALSE(manifests_.empty());
  }
  // `lifeboat start` pointed at the node's static-pod dir and a private bootstrap-secrets dir.
  std::vector<std::string> StartArgs(const fs::path& assets, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {LifeboatBinary(), "start", "--asset-dir", assets.string(),
                                     "--pod-manifest-path", manifests_.string(),
                                     "--bootstrap-secrets-dir", secrets_.string(), "--timeout", "4m"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }
  // `lifeboat recover` straight from etcd, as after losing every API server.
  fs::path Recover() {
    fs::path out = work_ / "recovered";
    auto r = RunProcess({LifeboatBinary(), "recover", "--recovery-dir", out.string(), "--kubeconfig",
                         testbed_->Env("KUBECONFIG"), "--etcd-servers", testbed_->Env("ETCD_ENDPOINTS"),
                         "--etcd-ca-path", testbed_->Env("ETCD_CA"), "--etcd-certificate-path",
                         testbed_->Env("ETCD_CERT"), "--etcd-private-key-path", testbed_->Env("ETCD_KEY")});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return out;
  }
  bool PodExists(const std::string& ns, const std::string& name) {
    return testbed_->Kubectl({"-n", ns, "get", "pod", name}).ok();
  }
  bool WaitFor(const std::function<bool()>& cond, int timeout_ms) {
    for (int waited = 0; waited <= timeout_ms; waited += 500) {
      if (cond()) return true;
      ::usleep(500 * 1000);
    }
    return false;
  }
  void ExpectTornDown(const fs::path& assets) {
    for (auto& e : fs::directory_iterator(assets / "bootstrap-manifests")) {
      EXPECT_FALSE(fs::exists(manifests_ / e.path().filename())) << e.path().filename();
    }
    EXPECT_FALSE(fs::exists(secrets_));
  }

  static testing::Testbed* testbed_;
  static int counter_;
  fs::path work_, secrets_, manifests_;
};
testing::Testbed* StartTest::testbed_ = nullptr;
int StartTest::counter_ = 0;

// Runs first, on the still-empty cluster: a new self-hosted cluster from an asset dir.
TEST_F(StartTest, FreshBringUpCreatesAssetsInOrder) {
  fs::path assets = work_ / "assets";
  // The bootstrap control plane: the same renderer's output as for a recovery, from goldens.
  ASSERT_TRUE(base::CopyTree(fs::path(LIFEBOAT_SOURCE_DIR) / "testdata/recovery/self-hosted/expected", assets).ok());
  fs::remove(assets / "MODES");
  fs::create_directories(assets / "manifests");
  // The test bed's kubeconfig has bootkube's shape (one unnamed context, no current-context):
  // start reads auth/kubeconfig as bootkube renders it.
  std::string kubeconfig = *base::ReadFile(testbed_->Env("KUBECONFIG"));
  EXPECT_EQ(kubeconfig.find("current-context"), std::string::npos) << kubeconfig;
  EXPECT_NE(kubeconfig.find("contexts:\n- context:\n"), std::string::npos) << kubeconfig;
  ASSERT_TRUE(base::WriteFileAtomic(assets / "auth/kubeconfig", kubeconfig, 0600).ok());
  // File names put the custom resource before its CRD and the Namespace last: start must reorder.
  std::ofstream(assets / "manifests/00-widget.yaml") << "apiVersion: lifeboat.example.com/v1\nkind: Widget\n"
      "metadata: {name: w1, namespace: lifeboat-fresh}\nspec: {size: 3}\n";
  std::ofstream(assets / "manifests/01-crd.yaml") << R"(apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.lifeboat.example.com}
spec:
  group: lifeboat.example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
)";
  for (auto& f : fs::directory_iterator(fs::path(LIFEBOAT_SOURCE_DIR) / "testbed/fixture")) {
    fs::copy_file(f.path(), assets / "manifests" / ("10-" + f.path().filename().string()));
  }
  std::ofstream(assets / "manifests/99-namespace.json") << R"({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lifeboat-fresh"}})";

  auto r = RunProcess(StartArgs(assets));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto pos = [&](const std::string& s) { return r.out.find(s); };
  ASSERT_NE(pos("Created: Namespace lifeboat-fresh"), std::string::npos) << r.out;
  EXPECT_LT(pos("Created: Namespace lifeboat-fresh"), pos("Created: CustomResourceDefinition widgets"));
  EXPECT_LT(pos("Created: CustomResourceDefinition widgets"), pos("Created: Widget lifeboat-fresh/w1"));
  EXPECT_NE(pos("Created: DaemonSet kube-system/kube-apiserver"), std::string::npos) << r.out;
  EXPECT_NE(pos("0 failed"), std::string::npos) << r.out;
  EXPECT_TRUE(testbed_->Kubectl({"-n", "lifeboat-fresh", "get", "widget", "w1"}).ok());
  EXPECT_NE(pos("node node-1: Ready"), std::string::npos) << r.out;
  EXPECT_NE(pos("All self-hosted control plane components are running."), std::string::npos);
  ExpectTornDown(assets);
  // Running it again: everything already exists, which is fine.
  auto again = RunProcess(StartArgs(assets));
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_NE(again.out.find("Exists:  Namespace lifeboat-fresh"), std::string::npos) << again.out;
}

TEST_F(StartTest, RecoveryDrillRunsBootstrapPodsThenTearsDown) {
  ASSERT_TRUE(testbed_->Script("load-fixture", {"--wait-running"}).ok());
  fs::path recovered = Recover();
  // One more required pod that appears only when the test says so, so the bootstrap control
  // plane can be seen running first.
  Subprocess start(StartArgs(recovered, {"--required-pods",
                                         "kube-system/pod-checkpointer,kube-system/kube-apiserver,"
                                         "kube-system/kube-scheduler,kube-system/kube-controller-manager,"
                                         "kube-system/late-"}),
                   (work_ / "start.log").string());
  ASSERT_TRUE(start.WaitForOutput("Waiting for the self-hosted control plane", 2 * kMinute)) << start.Output();
  std::string out = start.Output();
  EXPECT_NE(out.find("WARNING: " + recovered.string() + "/manifests does not exist, not creating any "
                     "self-hosted assets."), std::string::npos) << out;
  // The kubelet runs the bootstrap pods as static pods: their mirror pods show up in the API.
  for (const char* name : {"bootstrap-kube-apiserver-node-1", "bootstrap-kube-controller-manager-node-1",
                           "bootstrap-kube-scheduler-node-1"}) {
    EXPECT_TRUE(WaitFor([&] { return PodExists("kube-system", name); }, kMinute)) << name << "\n" << start.Output();
  }
  EXPECT_TRUE(fs::exists(secrets_ / "secrets/kube-apiserver/apiserver.key"));
  EXPECT_TRUE(fs::exists(secrets_ / "kubeconfig"));
  ASSERT_TRUE(testbed_->Kubectl({"-n", "kube-system", "run", "late-1", "--image=k8s.gcr.io/pause:3.2",
                                 "--overrides", R"({"spec":{"nodeName":"node-1"}})"}).ok());
  EXPECT_EQ(start.Wait(2 * kMinute), 0) << start.Output();
  out = start.Output();
  EXPECT_NE(out.find("pod kube-system/late-1: "), std::string::npos) << out;
  ExpectTornDown(recovered);
  // The kubelet notices and the mirror pods go away.
  EXPECT_TRUE(WaitFor([&] { return !PodExists("kube-system", "bootstrap-kube-apiserver-node-1"); }, kMinute));
  (void)testbed_->Kubectl({"-n", "kube-system", "delete", "pod", "late-1", "--wait=false"});
}

TEST_F(StartTest, BrokenManifestReportedAndStrictStopsAndTearsDown) {
  fs::path recovered = Recover();
  fs::create_directories(recovered / "manifests");
  std::ofstream(recovered / "manifests/10-good.yaml") << "apiVersion: v1\nkind: ConfigMap\n"
      "metadata: {name: lifeboat-good, namespace: kube-system}\n";
  std::ofstream(recovered / "manifests/20-broken.yaml") << "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n";
  std::ofstream(recovered / "manifests/30-rejected.yaml") << "apiVersion: v1\nkind: ConfigMap\n"
      "metadata: {name: Not_A_Valid_Name, namespace: kube-system}\n";

  auto lenient = RunProcess(StartArgs(recovered));
  EXPECT_EQ(lenient.exit_code, 0) << lenient.out << lenient.err;
  EXPECT_NE(lenient.out.find("Failed to read 20-broken.yaml"), std::string::npos) << lenient.out;
  EXPECT_NE(lenient.out.find("Failed to create ConfigMap kube-system/Not_A_Valid_Name (from 30-rejected.yaml)"),
            std::string::npos) << lenient.out;
  EXPECT_NE(lenient.out.find("Created: ConfigMap kube-system/lifeboat-good"), std::string::npos) << lenient.out;
  ExpectTornDown(recovered);

  auto strict = RunProcess(StartArgs(recovered, {"--strict"}));
  EXPECT_EQ(strict.exit_code, 1) << strict.out << strict.err;
  EXPECT_NE(strict.err.find("20-broken.yaml"), std::string::npos) << strict.err;
  EXPECT_EQ(strict.out.find("30-rejected"), std::string::npos) << "strict stops at the first failure";
  EXPECT_NE(strict.out.find("Tearing down the bootstrap control plane"), std::string::npos);
  ExpectTornDown(recovered);
}

TEST_F(StartTest, SigtermDuringTheWaitTearsDown) {
  fs::path recovered = Recover();
  Subprocess start(StartArgs(recovered, {"--required-pods", "kube-system/never-"}), (work_ / "start.log").string());
  ASSERT_TRUE(start.WaitForOutput("Waiting for the self-hosted control plane", 2 * kMinute)) << start.Output();
  EXPECT_TRUE(fs::exists(manifests_ / "bootstrap-kube-apiserver.yaml"));
  start.Signal(SIGTERM);
  EXPECT_EQ(start.Wait(30 * 1000), 1) << start.Output();
  EXPECT_NE(start.Output().find("interrupted by SIGTERM"), std::string::npos) << start.Output();
  ExpectTornDown(recovered);
}

TEST_F(StartTest, NeverOverwritesAnExistingManifestAndTimesOutClearly) {
  fs::path recovered = Recover();
  ASSERT_TRUE(base::WriteFileAtomic(manifests_ / "bootstrap-kube-scheduler.yaml", "operator's own", 0644).ok());
  auto r = RunProcess(StartArgs(recovered));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("refusing to overwrite"), std::string::npos) << r.err;
  EXPECT_EQ(*base::ReadFile(manifests_ / "bootstrap-kube-scheduler.yaml"), "operator's own");
  fs::remove(manifests_ / "bootstrap-kube-scheduler.yaml");
  EXPECT_FALSE(fs::exists(manifests_ / "bootstrap-kube-apiserver.yaml")) << "what it placed is removed";

  auto timeout = RunProcess(StartArgs(recovered, {"--required-pods", "kube-system/never-", "--timeout", "3s"}));
  EXPECT_EQ(timeout.exit_code, 1);
  EXPECT_NE(timeout.err.find("timed out after 3s waiting for kube-system/never- (no pod)"), std::string::npos)
      << timeout.err;
  ExpectTornDown(recovered);
  EXPECT_EQ(RunProcess(StartArgs(recovered, {"--required-pods", "no-slash"})).exit_code, 2);
}

}  // namespace
}  // namespace lifeboat::bootstrap
