// The seed's disasters on a real node: etcd, and one node running the kubelet v1.20.2 over
// Debian's containerd + runc (testbed.sh up --real-nodes). Everything of the control plane runs
// as real containers on that node: the bootstrap control plane placed by `lifeboat start`, the
// self-hosted kube-apiserver DaemonSet and controller manager / scheduler Deployments, and
// Lifeboat's checkpointer deployed from deploy/ with an image built from this tree.
//
// The cases run in order on one cluster (each builds on the previous): bring-up, checkpointer,
// a node reboot with no API server anywhere, then the loss of every scheduler pod.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "node/cri.h"
#include "testing/process.h"
#include "testing/testbed.h"

namespace lifeboat {
namespace {

namespace fs = std::filesystem;
using testing::LifeboatBinary;
using testing::RunProcess;
using testing::Subprocess;
using testing::Testbed;
using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

constexpr const char* kCheckpointerImage = "lifeboat.test/lifeboat:dev";

bool WaitFor(const std::function<bool()>& cond, Ms timeout, Ms poll = Ms(250)) {
  auto end = Clock::now() + timeout;
  for (;;) {
    if (cond()) return true;
    if (Clock::now() >= end) return false;
    std::this_thread::sleep_for(poll);
  }
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// A process that exists and is not a zombie (one SIGKILLed whose parent died too waits to be
// reaped by PID 1: dead, though kill(pid, 0) still finds it).
bool Alive(int pid) {
  std::string stat = testing::ReadFile("/proc/" + std::to_string(pid) + "/stat");
  auto paren = stat.rfind(") ");
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

std::set<std::string> Checkpoints(const fs::path& dir, const std::string& prefix) {
  std::set<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string n = it->path().filename().string();
    if (absl::StartsWith(n, prefix) && absl::EndsWith(n, ".json")) out.insert(n);
  }
  return out;
}

// The test bed's real node itself: a static pod runs as real processes in the node's cgroups,
// survives a power loss (the kubelet runs it again from its manifest), and `down` leaves nothing
// of the node on the machine.
TEST(RealNodeTestbedTest, StaticPodRunsSurvivesRebootAndTeardownLeavesNothing) {
  testing::TestbedOptions options;
  options.nodes = 1;
  options.real_nodes = true;
  auto t0 = Clock::now();
  auto started = Testbed::Start(options);
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<Testbed> tb = *std::move(started);
  std::printf("[ timing ] etcd, kube-apiserver and a real node Ready in %.1f s\n", Seconds(Clock::now() - t0));
  const std::string root = tb->Env("NODE_1_CGROUP_ROOT");
  const std::string socket = tb->Env("NODE_1_CRI_SOCKET");
  const fs::path dir = tb->dir();
  ASSERT_FALSE(root.empty());
  // A static pod whose process is /bin/busybox sleeping (comm "busybox"; the sandbox runs /bin/sh).
  fs::path manifest = fs::path(tb->Env("NODE_1_MANIFESTS")) / "sleeper.yaml";
  std::ofstream(manifest) << "apiVersion: v1\nkind: Pod\nmetadata: {name: sleeper, namespace: default}\n"
                             "spec:\n  hostNetwork: true\n  containers:\n  - name: sleep\n"
                             "    image: lifeboat.test/pause:1\n    imagePullPolicy: Never\n"
                             "    command: [/bin/busybox, sleep, \"100000\"]\n";
  auto sleepers = [&] { return tb->NodeProcesses(1, "busybox"); };
  ASSERT_TRUE(WaitFor([&] { return sleepers().size() == 1; }, Ms(180000))) << "no sleep process in " << root;
  int before = sleepers()[0];
  EXPECT_TRUE(WaitFor([&] { return tb->Kubectl({"get", "pod", "sleeper-node-1"}).ok(); }, Ms(60000)));

  // Power loss: nothing of the node runs any more; on power-on the kubelet runs the pod again.
  ASSERT_TRUE(tb->Script("stop", {"node-1"}).ok());
  EXPECT_TRUE(sleepers().empty());
  EXPECT_FALSE(Alive(before)) << "pid " << before << " survived the power loss";
  EXPECT_FALSE(fs::exists(socket));
  t0 = Clock::now();
  ASSERT_TRUE(tb->Script("start", {"node-1"}).ok());
  ASSERT_TRUE(WaitFor([&] { return sleepers().size() == 1; }, Ms(180000)));
  std::printf("[ timing ] power-on -> static pod's process running again %.1f s\n", Seconds(Clock::now() - t0));
  EXPECT_NE(sleepers()[0], before);

  // Teardown: no process, mount, cgroup or socket of the node left.
  tb.reset();
  for (const char* controller : {"pids", "memory", "cpu", "cpuset", "freezer", "systemd"}) {
    EXPECT_FALSE(fs::exists(fs::path("/sys/fs/cgroup") / controller / root.substr(1))) << controller;
  }
  std::string mounts = testing::ReadFile("/proc/self/mountinfo");
  EXPECT_EQ(mounts.find(dir.string()), std::string::npos) << mounts;
  auto shims = RunProcess({"pgrep", "-f", "-a", "containerd-shim.*" + socket});
  EXPECT_NE(shims.exit_code, 0) << shims.out;
  auto daemons = RunProcess({"pgrep", "-f", "-a", "containerd --config " + dir.string()});
  EXPECT_NE(daemons.exit_code, 0) << daemons.out;
  // Nor the pod's logs, which the kubelet of 1.20 writes to the machine's /var/log/pods.
  std::error_code ec;
  for (fs::directory_iterator it("/var/log/pods", ec), end; !ec && it != end; it.increment(ec)) {
    EXPECT_FALSE(absl::StartsWith(it->path().filename().string(), "default_sleeper-node-1_")) << it->path();
  }
}

class RealNodeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto image = testing::TestbedImage({"checkpointer", LifeboatBinary("lifeboat-checkpointer")});
    ASSERT_TRUE(image.ok()) << image.status();
    testing::TestbedOptions options;
    options.nodes = 1;
    options.real_nodes = true;
    options.apiserver = false;  // the control plane is the node's own, brought up by `start`
    options.images = {*image};
    auto t0 = Clock::now();
    auto tb = Testbed::Start(options);
    ASSERT_TRUE(tb.ok()) << tb.status();
    tb_ = tb->release();
    std::printf("[ timing ] etcd and a real node (containerd, kubelet, images) up in %.1f s\n",
                Seconds(Clock::now() - t0));
  }
  static void TearDownTestSuite() {
    delete tb_;
    tb_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(tb_, nullptr);
    if (::testing::Test::HasFailure()) GTEST_SKIP();
    etc_ = tb_->Env("NODE_1_ETC");
    manifests_ = tb_->Env("NODE_1_MANIFESTS");
    work_ = fs::path(tb_->dir()) / "e2e";
    fs::create_directories(work_);
  }

  static absl::StatusOr<std::string> Kubectl(const std::vector<std::string>& args) { return tb_->Kubectl(args); }
  // What kubectl printed, or why it failed: for failure messages.
  static std::string Show(const std::vector<std::string>& args) {
    auto r = Kubectl(args);
    return r.ok() ? *r : std::string(r.status().message());
  }
  static bool ApiAnswers() {
    auto r = Kubectl({"get", "--raw", "/readyz", "--request-timeout=3s"});
    return r.ok() && *r == "ok";
  }
  // Running pods of kube-system whose name starts with `prefix`, and not the mirror pod of an
  // active checkpoint or bootstrap pod (named <pod>-node-1).
  static std::vector<std::string> RunningPods(const std::string& prefix, bool mirrors = false) {
    std::vector<std::string> out;
    auto names = Kubectl({"-n", "kube-system", "get", "pods", "--field-selector", "status.phase=Running", "-o",
                          "jsonpath={.items[*].metadata.name}"});
    if (!names.ok()) return out;
    for (absl::string_view n : absl::StrSplit(*names, ' ', absl::SkipEmpty())) {
      if (!absl::StartsWith(n, prefix)) continue;
      if (absl::EndsWith(n, "-node-1") != mirrors) continue;
      out.emplace_back(n);
    }
    return out;
  }
  static std::string LogTail(const std::string& component) {
    std::string log = testing::ReadFile((fs::path(tb_->dir()) / "logs" / (component + ".log")).string());
    return log.size() > 4000 ? log.substr(log.size() - 4000) : log;
  }
  static bool PodExists(const std::string& name) { return Kubectl({"-n", "kube-system", "get", "pod", name}).ok(); }
  // Processes of the node's containers by command name (comm: at most 15 characters).
  static size_t Processes(const std::string& comm) { return tb_->NodeProcesses(1, comm).size(); }

  // `lifeboat start` on an asset dir, the bootstrap secrets in the node's /etc/kubernetes.
  std::vector<std::string> StartArgs(const fs::path& assets, const std::string& timeout = "8m") {
    return {LifeboatBinary(), "start", "--asset-dir", assets.string(), "--pod-manifest-path", manifests_.string(),
            "--bootstrap-secrets-dir", (etc_ / "bootstrap-secrets").string(), "--timeout", timeout};
  }

  static Testbed* tb_;
  fs::path etc_, manifests_, work_;
};
Testbed* RealNodeTest::tb_ = nullptr;

// Bring-up as bootkube users do: assets rendered for the node, `lifeboat start`, the bootstrap
// control plane as containers, then the self-hosted one as containers, the bootstrap one gone.
TEST_F(RealNodeTest, StartBringsUpASelfHostedControlPlaneAsContainers) {
  fs::path assets = work_ / "assets";
  auto render = RunProcess({"bash", std::string(LIFEBOAT_SOURCE_DIR) + "/testbed/selfhosted.sh", "render",
                            tb_->dir(), assets.string()});
  ASSERT_EQ(render.exit_code, 0) << render.err;
  auto t0 = Clock::now();
  // The checkpointer comes after (deploy/ applied by the next case), so not among the required pods.
  std::vector<std::string> argv = StartArgs(assets);
  argv.insert(argv.end(), {"--required-pods", "kube-system/kube-apiserver,kube-system/kube-scheduler,"
                                              "kube-system/kube-controller-manager"});
  Subprocess start(argv, (work_ / "start.log").string());
  // The bootstrap API server runs as a container of the node (not a process of the test bed).
  ASSERT_TRUE(WaitFor([] { return Processes("kube-apiserver") >= 1 && ApiAnswers(); }, Ms(5 * 60 * 1000)))
      << start.Output();
  std::printf("[ timing ] bootstrap kube-apiserver answering %.1f s after start began\n", Seconds(Clock::now() - t0));
  EXPECT_GE(Processes("kube-scheduler"), 1u);
  EXPECT_GE(Processes("kube-controller"), 1u);
  // The node registers with it (labelled node.kubernetes.io/control-plane by its own kubelet,
  // which the control plane's pods select).
  EXPECT_TRUE(WaitFor([] { return Kubectl({"get", "node", "node-1"}).ok(); }, Ms(120000)));
  ASSERT_EQ(start.Wait(10 * 60 * 1000), 0) << start.Output();
  std::printf("[ timing ] start done (self-hosted control plane running) in %.1f s\n", Seconds(Clock::now() - t0));
  std::string out = start.Output();
  EXPECT_NE(out.find("Created: DaemonSet kube-system/kube-apiserver"), std::string::npos) << out;
  EXPECT_NE(out.find("All self-hosted control plane components are running."), std::string::npos) << out;
  // The bootstrap pods are gone: manifests, secrets, mirror pods and processes.
  for (const char* c : {"kube-apiserver", "kube-controller-manager", "kube-scheduler"}) {
    EXPECT_FALSE(fs::exists(manifests_ / absl::StrCat("bootstrap-", c, ".yaml"))) << c;
  }
  EXPECT_FALSE(fs::exists(etc_ / "bootstrap-secrets"));
  EXPECT_TRUE(WaitFor([] { return !PodExists("bootstrap-kube-apiserver-node-1"); }, Ms(120000)));
  // What runs now is the self-hosted control plane, as containers of the node.
  EXPECT_TRUE(WaitFor([] {
    return RunningPods("kube-apiserver-").size() == 1 && RunningPods("kube-scheduler-").size() == 1 &&
           RunningPods("kube-controller-manager-").size() == 1 && Processes("kube-apiserver") == 1 &&
           Processes("kube-scheduler") == 1 && Processes("kube-controller") == 1;
  }, Ms(120000))) << "apiservers: " << Processes("kube-apiserver") << ", schedulers: " << Processes("kube-scheduler");
  EXPECT_TRUE(ApiAnswers());
}

// The checkpointer deployed as users deploy it: deploy/ applied, the image built from this tree.
TEST_F(RealNodeTest, CheckpointerFromDeployCheckpointsTheControlPlane) {
  auto rendered = RunProcess({"bash", std::string(LIFEBOAT_SOURCE_DIR) + "/testbed/selfhosted.sh", "checkpointer",
                              tb_->dir(), kCheckpointerImage});
  ASSERT_EQ(rendered.exit_code, 0) << rendered.err;
  fs::path file = work_ / "pod-checkpointer.yaml";
  std::ofstream(file) << rendered.out;
  auto t0 = Clock::now();
  auto applied = Kubectl({"apply", "-f", file.string()});
  ASSERT_TRUE(applied.ok()) << applied.status();
  // Two processes soon: the DaemonSet's pod and its own checkpoint (always active), which waits
  // on the lock file until the pod is gone.
  ASSERT_TRUE(WaitFor([] { return RunningPods("pod-checkpointer-").size() == 1 && Processes("checkpoint") >= 1; },
                      Ms(180000)))
      << Show({"-n", "kube-system", "get", "pods", "-o", "wide"});
  ASSERT_EQ(RunningPods("kube-apiserver-").size(), 1u);
  std::string apiserver = RunningPods("kube-apiserver-")[0];
  std::string self = RunningPods("pod-checkpointer-")[0];
  fs::path inactive = etc_ / "inactive-manifests";
  // The API server's checkpoint inactive, the checkpointer's own active in the kubelet's dir.
  ASSERT_TRUE(WaitFor([&] {
    return fs::exists(inactive / ("kube-system-" + apiserver + ".json")) &&
           fs::exists(manifests_ / ("kube-system-" + self + ".json"));
  }, Ms(120000))) << Show({"-n", "kube-system", "logs", self});
  std::printf("[ timing ] checkpoints written %.1f s after deploy/ was applied\n", Seconds(Clock::now() - t0));
  // The scheduler and controller manager are not annotated: no checkpoints for them.
  EXPECT_TRUE(Checkpoints(inactive, "kube-system-kube-scheduler").empty());
  // The runtime the checkpointer reads answers CRI v1 (which a client tries first).
  auto cri = node::CriClient::Create({"unix://" + tb_->Env("NODE_1_CRI_SOCKET"), Ms(5000)});
  ASSERT_TRUE(cri.ok()) << cri.status();
  auto version = (*cri)->Version();
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(version->api, "runtime.v1");
  EXPECT_EQ(version->runtime_name, "containerd");
  // Its log shows no failing tick.
  auto logs = Kubectl({"-n", "kube-system", "logs", self});
  ASSERT_TRUE(logs.ok()) << logs.status();
  EXPECT_EQ(logs->find("tick failed"), std::string::npos) << *logs;
}

// The seed's disaster: the node reboots while no API server runs anywhere (its own was the only
// one). The checkpointed API server runs again from its checkpoint, the cluster answers, the
// DaemonSet's pod comes back and the checkpoint is deactivated.
TEST_F(RealNodeTest, NodeRebootWithNoApiServerRecoversFromTheCheckpoint) {
  ASSERT_EQ(RunningPods("kube-apiserver-").size(), 1u);
  std::string apiserver = RunningPods("kube-apiserver-")[0];
  fs::path active = manifests_ / ("kube-system-" + apiserver + ".json");
  ASSERT_TRUE(fs::exists(etc_ / "inactive-manifests" / ("kube-system-" + apiserver + ".json")));
  ASSERT_FALSE(fs::exists(active));

  ASSERT_TRUE(tb_->Script("stop", {"node-1"}).ok());  // power loss: everything of the node SIGKILLed
  EXPECT_EQ(Processes("kube-apiserver"), 0u);
  EXPECT_FALSE(ApiAnswers());
  auto t0 = Clock::now();
  ASSERT_TRUE(tb_->Script("start", {"node-1", "--no-wait"}).ok());  // power on: containerd, the kubelet
  auto t_kubelet = Clock::now();
  ASSERT_TRUE(WaitFor([&] { return fs::exists(active) && Processes("kube-apiserver") >= 1; }, Ms(5 * 60 * 1000)))
      << LogTail("node-1");
  auto t_running = Clock::now();
  ASSERT_TRUE(WaitFor(ApiAnswers, Ms(5 * 60 * 1000)));
  auto t_api = Clock::now();
  std::printf("[ timing ] node restart -> kubelet started %.1f s, -> checkpointed kube-apiserver running %.1f s, "
              "-> API answering %.1f s\n",
              Seconds(t_kubelet - t0), Seconds(t_running - t0), Seconds(t_api - t0));
  // The node is back in the cluster, the DaemonSet's own pod runs again, the checkpoint goes back
  // to inactive.
  ASSERT_TRUE(WaitFor([&] { return !fs::exists(active) && RunningPods("kube-apiserver-").size() == 1; },
                      Ms(5 * 60 * 1000)))
      << Show({"-n", "kube-system", "get", "pods", "-o", "wide"});
  auto t_deactivated = Clock::now();
  std::printf("[ timing ] node restart -> self-hosted pod back and checkpoint deactivated %.1f s\n",
              Seconds(t_deactivated - t0));
  EXPECT_TRUE(WaitFor([] { return Processes("kube-apiserver") == 1; }, Ms(120000)));
  // The checkpointer deactivates once the parent's container runs, not once it serves: the API
  // may be down for a moment in between (reported, not asserted).
  EXPECT_TRUE(WaitFor(ApiAnswers, Ms(120000)));
  std::printf("[ timing ] deactivation -> API answering from the self-hosted pod %.1f s\n",
              Seconds(Clock::now() - t_deactivated));
  EXPECT_TRUE(WaitFor([] { return RunningPods("kube-scheduler-").size() == 1; }, Ms(5 * 60 * 1000)));
}

// The seed's other disaster: every scheduler pod gone while the API server is up. `recover`
// renders a bootstrap control plane (from the API server, then from etcd), `start` runs it until
// the self-hosted scheduler is back, then removes it.
TEST_F(RealNodeTest, LostSchedulerRecoveredFromApiServerAndFromEtcd) {
  for (const char* source : {"apiserver", "etcd"}) {
    SCOPED_TRACE(source);
    // The scheduler Deployment's pods are deleted; their replacement cannot be scheduled.
    ASSERT_TRUE(Kubectl({"-n", "kube-system", "delete", "pods", "-l", "k8s-app=kube-scheduler", "--wait=true"}).ok());
    ASSERT_TRUE(WaitFor([] { return Processes("kube-scheduler") == 0; }, Ms(120000)));
    std::this_thread::sleep_for(Ms(3000));
    EXPECT_TRUE(RunningPods("kube-scheduler-").empty());

    fs::path out = work_ / absl::StrCat("recovered-", source);
    std::vector<std::string> recover = {LifeboatBinary(), "recover", "--recovery-dir", out.string(),
                                        "--kubeconfig", tb_->Env("KUBECONFIG")};
    if (std::string(source) == "etcd") {
      recover.insert(recover.end(), {"--etcd-servers", tb_->Env("ETCD_ENDPOINTS"), "--etcd-ca-path", tb_->Env("ETCD_CA"),
                                     "--etcd-certificate-path", tb_->Env("ETCD_CERT"), "--etcd-private-key-path",
                                     tb_->Env("ETCD_KEY")});
    }
    auto r = RunProcess(recover);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    // The rendered bootstrap pods mount the host's /etc/kubernetes/bootstrap-secrets and, for
    // the controller manager and scheduler, /etc/kubernetes/kubeconfig (bootkube's layout); this
    // node's /etc/kubernetes is a directory of its own.
    for (auto& e : fs::directory_iterator(out / "bootstrap-manifests")) {
      std::string y = testing::ReadFile(e.path());
      std::ofstream(e.path()) << absl::StrReplaceAll(
          y, {{"/etc/kubernetes/bootstrap-secrets", (etc_ / "bootstrap-secrets").string()},
              {"path: /etc/kubernetes\n", "path: " + etc_.string() + "\n"}});
    }
    ASSERT_TRUE(fs::copy_file(tb_->Env("KUBECONFIG"), etc_ / "kubeconfig", fs::copy_options::overwrite_existing));
    fs::permissions(etc_ / "kubeconfig", fs::perms::owner_read | fs::perms::owner_write);
    auto t0 = Clock::now();
    auto started = RunProcess(StartArgs(out, "4m"));
    ASSERT_EQ(started.exit_code, 0) << started.out << started.err;
    std::printf("[ timing ] %s: recover + start brought the scheduler back in %.1f s\n", source,
                Seconds(Clock::now() - t0));
    EXPECT_NE(started.out.find("All self-hosted control plane components are running."), std::string::npos)
        << started.out;
    EXPECT_EQ(RunningPods("kube-scheduler-").size(), 1u);
    EXPECT_FALSE(fs::exists(manifests_ / "bootstrap-kube-scheduler.yaml"));
    EXPECT_TRUE(WaitFor([] { return !PodExists("bootstrap-kube-scheduler-node-1"); }, Ms(120000)));
    EXPECT_TRUE(WaitFor([] { return Processes("kube-scheduler") == 1; }, Ms(120000)));
    // A new pod gets scheduled: by the self-hosted scheduler, the bootstrap one being gone.
    std::string pod = absl::StrCat("after-", source);
    ASSERT_TRUE(Kubectl({"-n", "default", "run", pod, "--image=lifeboat.test/pause:1", "--image-pull-policy=Never",
                         "--overrides", R"({"spec":{"hostNetwork":true}})"}).ok());
    EXPECT_TRUE(WaitFor([&] {
      auto node = Kubectl({"-n", "default", "get", "pod", pod, "-o", "jsonpath={.spec.nodeName}"});
      return node.ok() && *node == "node-1";
    }, Ms(120000)));
    (void)Kubectl({"-n", "default", "delete", "pod", pod, "--wait=false"});
  }
}

}  // namespace
}  // namespace lifeboat
