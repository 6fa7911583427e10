// The commands run as bootkube v0.14's assets run them (testdata/bootkube): the checkpointer
// started with the DaemonSet's command line and downward-API environment through the upstream
// `checkpoint` name, reading the kubeconfig-in-cluster ConfigMap's kubeconfig; `recover` with
// bootkube's admin kubeconfig. No API server answers here (the kubeconfigs point at 127.0.0.1:1):
// these tests show each shape is accepted and understood; the end-to-end tests run them against
// a real cluster.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "base/file.h"
#include "gtest/gtest.h"
#include "kube/codec.h"
#include "testing/process.h"

namespace lifeboat::cli {
namespace {
namespace fs = std::filesystem;
using lifeboat::testing::LifeboatBinary;
using lifeboat::testing::RunProcess;
using lifeboat::testing::Subprocess;

const fs::path kAssets = fs::path(LIFEBOAT_SOURCE_DIR) / "testdata/bootkube/assets";

kube::Json ReadManifest(const std::string& rel) {
  auto text = base::ReadFile(kAssets / rel);
  EXPECT_TRUE(text.ok()) << text.status();
  auto docs = kube::ParseDocuments(text.ok() ? *text : "");
  EXPECT_TRUE(docs.ok() && docs->size() == 1) << rel;
  return docs.ok() && !docs->empty() ? (*docs)[0] : kube::Json::object();
}

class BootkubeShapesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / absl::StrCat("lb-bootkube-shapes-", ::getpid());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  // An absolute path of the pod's filesystem, moved under the test's root.
  std::string Rooted(const std::string& path) const { return (root_ / path.substr(1)).string(); }
  fs::path root_;
};

TEST_F(BootkubeShapesTest, CheckpointerRunsAsTheDaemonSetStartsIt) {
  kube::Json ds = ReadManifest("manifests/pod-checkpointer.yaml");
  ASSERT_EQ(
      ds["spec"]["template"]["metadata"]["annotations"]["checkpointer.alpha.coreos.com/checkpoint"],
      "true");
  const kube::Json& container = ds["spec"]["template"]["spec"]["containers"][0];
  std::vector<std::string> command = container["command"].get<std::vector<std::string>>();
  ASSERT_EQ(command.front(), "/checkpoint");

  // The environment from the downward API, as the kubelet would fill it in.
  std::map<std::string, std::string> downward = {{"spec.nodeName", "node-1"},
                                                 {"metadata.name", "pod-checkpointer-x7k2p"},
                                                 {"metadata.namespace", "kube-system"}};
  std::vector<std::string> argv = {"env"};
  for (const auto& e : container["env"]) {
    std::string field = e["valueFrom"]["fieldRef"]["fieldPath"];
    ASSERT_TRUE(downward.count(field)) << field;
    argv.push_back(absl::StrCat(e["name"].get<std::string>(), "=", downward[field]));
  }
  EXPECT_EQ(argv.size(), 4u) << "NODE_NAME, POD_NAME, POD_NAMESPACE";

  // The mounted ConfigMap: its kubeconfig at /etc/checkpointer/kubeconfig, the service account's
  // token and CA where every pod has them.
  kube::Json cm = ReadManifest("manifests/kubeconfig-in-cluster.yaml");
  std::string mount;
  for (const auto& m : container["volumeMounts"]) {
    if (m["name"] == "kubeconfig") mount = m["mountPath"];
  }
  ASSERT_EQ(mount, "/etc/checkpointer");
  const std::string sa = "/var/run/secrets/kubernetes.io/serviceaccount";
  fs::create_directories(Rooted(mount));
  fs::create_directories(Rooted(sa));
  std::ofstream(Rooted(mount + "/kubeconfig"))
      << absl::StrReplaceAll(cm["data"]["kubeconfig"].get<std::string>(), {{sa, Rooted(sa)}});
  std::ofstream(Rooted(sa + "/token")) << "service-account-token";
  std::ofstream(Rooted(sa + "/ca.crt"))
      << lifeboat::testing::ReadFile((kAssets / "tls/ca.crt").string());

  // The DaemonSet's command line, its absolute paths moved under the test's root, through the
  // upstream image's entry point name; then only flags that keep the test off the host's paths.
  argv.push_back(LifeboatBinary("checkpoint"));
  for (size_t i = 1; i < command.size(); ++i) {
    std::string arg = command[i];
    if (auto eq = arg.find("=/"); eq != std::string::npos)
      arg = arg.substr(0, eq + 1) + Rooted(arg.substr(eq + 1));
    argv.push_back(arg);
  }
  for (const char* dir : {"--pod-manifest-path=/etc/kubernetes/manifests",
                          "--inactive-manifest-dir=/etc/kubernetes/inactive-manifests",
                          "--checkpoint-secrets-dir=/etc/kubernetes/checkpoint-secrets",
                          "--checkpoint-configmaps-dir=/etc/kubernetes/checkpoint-configmaps"}) {
    std::string flag(dir);
    auto eq = flag.find('=');
    argv.push_back(flag.substr(0, eq + 1) + Rooted(flag.substr(eq + 1)));
  }
  fs::create_directories(Rooted("/etc/kubernetes/manifests"));
  argv.push_back("--container-runtime-endpoint=unix://" + Rooted("/var/run/dockershim.sock"));
  argv.push_back("--metrics-address=127.0.0.1:0");
  // The kubelet: a loopback port nothing listens on (the test reads no /pods), verified with the
  // CA at the default path (/var/lib/kubelet/pki/kubelet.crt) moved under the test's root.
  argv.push_back(absl::StrCat("--kubelet-port=", lifeboat::testing::UnusedLoopbackPort()));
  const std::string kubelet_crt = Rooted("/var/lib/kubelet/pki/kubelet.crt");
  fs::create_directories(fs::path(kubelet_crt).parent_path());
  std::ofstream(kubelet_crt) << lifeboat::testing::ReadFile((kAssets / "tls/ca.crt").string());
  argv.push_back("--kubelet-certificate-authority=" + kubelet_crt);

  Subprocess ckpt(argv, (root_ / "checkpointer.log").string());
  // Started: the lock taken where the DaemonSet says, the kubeconfig accepted, the environment
  // and the grace period (5m) understood.
  ASSERT_TRUE(ckpt.WaitForOutput("pod checkpointer for node node-1", 120000)) << ckpt.Output();
  std::string out = ckpt.Output();
  EXPECT_NE(out.find("holding lock " + Rooted("/var/run/lock/pod-checkpointer.lock")),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("(pod kube-system/pod-checkpointer-x7k2p)"), std::string::npos) << out;
  EXPECT_NE(out.find("grace period 300s"), std::string::npos) << out;
  EXPECT_EQ(out.find("kubeconfig"), std::string::npos)
      << "no complaint about the kubeconfig: " << out;
  ckpt.Signal(SIGTERM);
  EXPECT_EQ(ckpt.Wait(120000), 0) << ckpt.Output();
}

TEST_F(BootkubeShapesTest, CheckpointerNamesAnUnusableKubeconfig) {
  // The in-cluster kubeconfig where the service account's files are not mounted (as on a host).
  kube::Json cm = ReadManifest("manifests/kubeconfig-in-cluster.yaml");
  if (fs::exists("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"))
    GTEST_SKIP() << "running in a pod";
  std::ofstream(root_ / "kubeconfig") << cm["data"]["kubeconfig"].get<std::string>();
  auto r = RunProcess({"env", "NODE_NAME=n", "POD_NAME=p", "POD_NAMESPACE=kube-system",
                       LifeboatBinary("checkpoint"), "--lock-file=" + (root_ / "lock").string(),
                       "--kubeconfig=" + (root_ / "kubeconfig").string(),
                       "--metrics-address=127.0.0.1:0"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("unable to read certificate-authority "
                       "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"),
            std::string::npos)
      << r.err;
}

TEST_F(BootkubeShapesTest, CheckpointerTakesGoFlagSyntaxAndGlogFlags) {
  // Upstream parses with Go's flag package (one dash or two, `-flag value`) and has glog's flags.
  const std::string lock = (root_ / "go-lock").string();
  const std::string kubeconfig = (root_ / "no-kubeconfig").string();
  auto r = RunProcess({"env", "NODE_NAME=n", "POD_NAME=p", "POD_NAMESPACE=kube-system",
                       LifeboatBinary("checkpoint"), "-lock-file", lock, "-kubeconfig=" + kubeconfig,
                       "-checkpoint-grace-period=5m", "-runtime-request-timeout", "1m30s",
                       "-logtostderr", "--alsologtostderr=false", "-stderrthreshold=INFO", "-v=2",
                       "--vmodule=checkpoint=3", "-metrics-address=127.0.0.1:0"});
  // Parsed: the lock taken where -lock-file says, then stopped at the kubeconfig -kubeconfig names.
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("holding lock " + lock), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("cannot open " + kubeconfig), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--vmodule and --log_backtrace_at are not supported"), std::string::npos)
      << "an ignored flag is named: " << r.err;

  // glog's `-v N`, and a misspelt flag is still a usage error (exit 2), in either syntax.
  r = RunProcess({"env", "NODE_NAME=n", "POD_NAME=p", "POD_NAMESPACE=kube-system",
                  LifeboatBinary("checkpoint"), "-lock-file=" + lock, "--kubeconfig", kubeconfig,
                  "-v", "1", "--metrics-address=127.0.0.1:0"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("cannot open " + kubeconfig), std::string::npos) << r.err;
  for (const char* typo : {"-lock-fil=/x", "--lock-fil=/x", "-kubeconfigx"}) {
    r = RunProcess({LifeboatBinary("checkpoint"), typo});
    EXPECT_EQ(r.exit_code, 2) << typo << ": " << r.err;
  }
}

TEST_F(BootkubeShapesTest, CheckpointerHasUpstreamsDefaults) {
  // bootkube v0.14's cmd/checkpoint defaults; the help shows what each flag defaults to.
  auto r = RunProcess({LifeboatBinary("checkpoint"), "--help"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* shown :
       {"--lock-file TEXT=/var/run/lock/pod-checkpointer.lock", "--kubeconfig TEXT=/etc/kubernetes/kubeconfig",
        "--container-runtime-endpoint TEXT=unix:///var/run/dockershim.sock",
        "--runtime-request-timeout TEXT=2m", "--checkpoint-grace-period TEXT=1m"}) {
    EXPECT_NE(r.out.find(shown), std::string::npos) << shown << " in\n" << r.out;
  }
}

TEST_F(BootkubeShapesTest, RecoverAcceptsBootkubesAdminKubeconfig) {
  // bootkube's own runbook: `bootkube recover --kubeconfig=<asset-dir>/auth/kubeconfig ...`.
  auto r =
      RunProcess({LifeboatBinary("bootkube"), "recover", "--recovery-dir", (root_ / "out").string(),
                  "--kubeconfig", (kAssets / "auth/kubeconfig").string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  // Past the kubeconfig: it got as far as the (absent) API server at the kubeconfig's address.
  EXPECT_NE(r.err.find("cannot reach the API server at https://127.0.0.1:1"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("no name"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace lifeboat::cli
