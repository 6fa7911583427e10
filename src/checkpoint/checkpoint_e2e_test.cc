// The checkpointer end to end on the real test bed: etcd, kube-apiserver, controller manager,
// scheduler and a hollow kubelet node (real kubelet, fake runtime speaking CRI v1alpha2) running
// the self-hosted control-plane fixture. The checkpointer runs as a process pointed at the node's
// directories, as the fixture's pod-checkpointer DaemonSet pod would, with the RBAC of deploy/.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "checkpoint/pod.h"
#include "gtest/gtest.h"
#include "kube/static_pod.h"
#include "node/cri.h"
#include "testing/process.h"
#include "testing/testbed.h"

namespace lifeboat::checkpoint {
namespace {

namespace fs = std::filesystem;
using lifeboat::testing::LifeboatBinary;
using lifeboat::testing::RunProcess;
using lifeboat::testing::Subprocess;
using lifeboat::testing::Testbed;
using Ms = std::chrono::milliseconds;

std::string Read(const fs::path& p) { return lifeboat::testing::ReadFile(p); }

mode_t Mode(const fs::path& p) { return lifeboat::testing::FileMode(p); }

bool WaitFor(const std::function<bool()>& cond, Ms timeout, Ms poll = Ms(200)) {
  auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(poll);
  }
}

// Checkpoint files (not temp files) in a directory.
std::set<std::string> JsonFiles(const fs::path& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string n = it->path().filename().string();
    if (!n.empty() && n[0] != '.' && absl::EndsWith(n, ".json")) out.insert(n);
  }
  return out;
}

class CheckpointE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    lifeboat::testing::TestbedOptions options;
    options.controllers = true;
    options.nodes = 1;
    options.apiserver_args = apiserver_args_;
    auto tb = Testbed::Start(options);
    ASSERT_TRUE(tb.ok()) << tb.status();
    tb_ = *std::move(tb);
    ASSERT_TRUE(tb_->Script("load-fixture", {"--wait-running"}).ok());
    ASSERT_TRUE(Kubectl({"apply", "-f",
                         std::string(LIFEBOAT_SOURCE_DIR) + "/deploy/pod-checkpointer-rbac.yaml"})
                    .ok());
    work_ = fs::path(tb_->dir()) / "checkpointer";
    fs::create_directories(work_);
    manifests_ = tb_->Env("NODE_1_MANIFESTS");
    inactive_ = work_ / "inactive-manifests";
    secrets_ = work_ / "checkpoint-secrets";
    configmaps_ = work_ / "checkpoint-configmaps";
    WriteKubeconfig();
    apiserver_pod_ = PodName("kube-apiserver");
    self_pod_ = PodName("pod-checkpointer");
    ASSERT_FALSE(apiserver_pod_.empty());
    ASSERT_FALSE(self_pod_.empty());
  }
  // More kube-apiserver flags for a fixture's test bed.
  std::vector<std::string> apiserver_args_;

  void TearDown() override {
    checkpointer_.reset();
    node_.reset();
    tb_.reset();
  }

  absl::StatusOr<std::string> Kubectl(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {tb_->Env("KUBECTL"), "--kubeconfig", tb_->Env("KUBECONFIG")};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = RunProcess(argv);
    if (r.exit_code != 0) return absl::InternalError(r.err);
    return r.out;
  }
  // The running pod of a control-plane app; not the mirror pod of an active checkpoint (which
  // carries the same labels and is named <pod>-node-1).
  std::string PodName(const std::string& app) {
    auto out =
        Kubectl({"-n", "kube-system", "get", "pods", "-l", "k8s-app=" + app, "--field-selector",
                 "status.phase=Running", "-o", "jsonpath={.items[*].metadata.name}"});
    if (!out.ok()) return "";
    for (absl::string_view name : absl::StrSplit(*out, ' ', absl::SkipEmpty())) {
      if (!absl::EndsWith(name, "-node-1")) return std::string(name);
    }
    return "";
  }

  // A kubeconfig with the pod-checkpointer service account's token: the RBAC of deploy/ is what
  // lets it list pods, read secrets and read the kubelet's /pods on the secure port. Shaped as
  // bootkube v0.14's kubeconfig-in-cluster ConfigMap (testdata/bootkube): no kind, the service
  // account's CA and token by path (here under work_/serviceaccount instead of
  // /var/run/secrets/kubernetes.io/serviceaccount), one unnamed context, no current-context.
  void WriteKubeconfig() {
    std::string token;
    ASSERT_TRUE(WaitFor(
        [&] {
          auto t = Kubectl({"-n", "kube-system", "get", "secret", "pod-checkpointer-token", "-o",
                            "jsonpath={.data.token}"});
          return t.ok() && !t->empty() && absl::Base64Unescape(*t, &token);
        },
        Ms(30000)));
    std::string ca;
    ASSERT_TRUE(absl::Base64Unescape(
        *Kubectl({"config", "view", "--raw", "-o",
                  "jsonpath={.clusters[0].cluster.certificate-authority-data}"}),
        &ca));
    fs::path sa = work_ / "serviceaccount";
    fs::create_directories(sa);
    std::ofstream(sa / "token") << token;
    std::ofstream(sa / "ca.crt") << ca;
    kubeconfig_ = work_ / "kubeconfig";
    std::ofstream(kubeconfig_)
        << "apiVersion: v1\nclusters:\n- name: local\n  cluster:\n    server: "
        << tb_->Env("APISERVER_URL") << "\n    certificate-authority: " << (sa / "ca.crt").string()
        << "\nusers:\n- name: service-account\n  user:\n    # Use service account token\n"
        << "    tokenFile: " << (sa / "token").string()
        << "\ncontexts:\n- context:\n    cluster: local\n    user: service-account\n";
  }

  std::vector<std::string> CheckpointerArgs(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {
        "env", "NODE_NAME=node-1", "POD_NAME=" + self_pod_, "POD_NAMESPACE=kube-system",
        "HOST_IP=127.0.0.1",
        LifeboatBinary("checkpoint"),  // the upstream image's entry point
        "--lock-file=" + (work_ / "lock").string(), "--kubeconfig=" + kubeconfig_.string(),
        "--container-runtime-endpoint=unix://" + tb_->Env("NODE_1_CRI_SOCKET"),
        "--runtime-request-timeout=5s", "--checkpoint-grace-period=5s",
        "--inactive-manifest-dir=" + inactive_.string(),
        "--pod-manifest-path=" + manifests_.string(),
        "--checkpoint-secrets-dir=" + secrets_.string(),
        "--checkpoint-configmaps-dir=" + configmaps_.string(),
        "--kubelet-port=" + tb_->Env("NODE_1_PORT"),
        // The secure port only, verified with the kubelet's own self-signed pair (as on a node).
        "--kubelet-certificate-authority=" + tb_->Env("NODE_1_ROOT") + "/pki/kubelet.crt",
        "--api-timeout=3s", "--metrics-address=127.0.0.1:0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }
  void StartCheckpointer(const std::vector<std::string>& extra = {}) {
    checkpointer_.reset();
    log_ = work_ / ("checkpointer-" + std::to_string(runs_++) + ".log");
    checkpointer_ = std::make_unique<Subprocess>(CheckpointerArgs(extra), log_.string());
  }
  void StopCheckpointer() {
    checkpointer_->Signal(SIGTERM);
    EXPECT_EQ(checkpointer_->Wait(10000), 0) << checkpointer_->Output();
  }
  int MetricsPort() {
    std::smatch m;
    std::string out = checkpointer_->Output();
    static const std::regex kPort(R"(/metrics on \S+ \(port (\d+)\))");
    return std::regex_search(out, m, kPort) ? std::stoi(m[1]) : 0;
  }
  std::string Http(const std::string& url) {
    auto r = RunProcess({"curl", "-s", "--max-time", "5", url});
    return r.out;
  }

  fs::path Inactive(const std::string& pod) { return inactive_ / ("kube-system-" + pod + ".json"); }
  fs::path Active(const std::string& pod) { return manifests_ / ("kube-system-" + pod + ".json"); }
  bool CheckpointsWritten() {
    return fs::exists(Inactive(apiserver_pod_)) && fs::exists(Inactive(self_pod_)) &&
           fs::exists(Active(self_pod_));
  }

  // What the node's kubelet and runtime run: pods from /pods (read-only port), and over CRI.
  std::set<std::string> KubeletPods() {
    std::set<std::string> out;
    auto list =
        kube::ParseJson(Http("http://127.0.0.1:" + tb_->Env("NODE_1_READONLY_PORT") + "/pods"));
    if (!list.ok()) return out;
    for (const auto& p : (*list)["items"]) out.insert(p["metadata"].value("name", ""));
    return out;
  }
  std::set<std::string> RuntimePods() {
    std::set<std::string> out;
    auto cri = node::CriClient::Create({"unix://" + tb_->Env("NODE_1_CRI_SOCKET"), Ms(3000)});
    if (!cri.ok()) return out;
    auto snap = (*cri)->ListRunning();
    if (!snap.ok()) return out;
    for (auto& [ns, name] : node::RunningPods(*snap)) out.insert(name);
    return out;
  }

  // "Reboot" the node while the API server is down: the test bed's `start` waits for the node to
  // turn Ready in the API, which cannot happen, so the node's own command line is relaunched here.
  void RebootNodeWithoutApi() {
    ASSERT_TRUE(tb_->Script("stop", {"node-1"}).ok());
    std::string log = Read(fs::path(tb_->dir()) / "logs/node-1.log");
    auto at = log.rfind("starting: ");
    ASSERT_NE(at, std::string::npos);
    std::string cmd = log.substr(at + 10, log.find('\n', at) - at - 10);
    std::vector<std::string> argv = {
        "env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME=" + std::string(getenv("HOME")), "LANG=C.UTF-8"};
    for (absl::string_view w : absl::StrSplit(cmd, ' ', absl::SkipEmpty())) argv.emplace_back(w);
    node_ = std::make_unique<Subprocess>(argv, (work_ / "node-1-rebooted.log").string());
  }

  // The API server's verdict on `token` (TokenReview): its status, or an empty object.
  kube::Json Review(const std::string& token) {
    kube::Json review = {{"apiVersion", "authentication.k8s.io/v1"},
                         {"kind", "TokenReview"},
                         {"spec", {{"token", token}}}};
    const fs::path file = fs::path(tb_->dir()) / "tokenreview.json";
    std::ofstream(file) << review.dump();
    auto reviewed = Kubectl({"create", "-f", file.string(), "-o", "json"});
    if (!reviewed.ok()) {
      ADD_FAILURE() << reviewed.status();
      return kube::Json::object();
    }
    auto parsed = kube::ParseJson(*reviewed);
    if (!parsed.ok()) {
      ADD_FAILURE() << *reviewed;
      return kube::Json::object();
    }
    return (*parsed).value("status", kube::Json::object());
  }

  // A parent of our own on node-1 (the checkpointer's namespace, annotated), with a projected
  // service-account token as a kube-api-access-* volume is; returns its UID.
  std::string CreateProbe(const std::string& image) {
    kube::Json pod = {{"apiVersion", "v1"},
                      {"kind", "Pod"},
                      {"metadata",
                       {{"name", kProbe},
                        {"namespace", "kube-system"},
                        {"annotations", {{std::string(kCheckpointAnnotation), "true"}}}}},
                      {"spec",
                       {{"nodeName", "node-1"},
                        {"automountServiceAccountToken", false},
                        {"containers",
                         {{{"name", "probe"},
                           {"image", image},
                           {"volumeMounts",
                            {{{"name", "api-token"}, {"mountPath", "/var/run/secrets/tokens"}}}}}}},
                        {"volumes",
                         {{{"name", "api-token"},
                           {"projected",
                            {{"sources",
                              {{{"serviceAccountToken",
                                 {{"path", "token"}, {"expirationSeconds", 3600}}}}}}}}}}}}}};
    const fs::path file = fs::path(tb_->dir()) / "probe.json";
    std::ofstream(file) << pod.dump();
    EXPECT_TRUE(Kubectl({"create", "-f", file.string()}).ok());
    auto uid =
        Kubectl({"-n", "kube-system", "get", "pod", kProbe, "-o", "jsonpath={.metadata.uid}"});
    EXPECT_TRUE(uid.ok()) << uid.status();
    return uid.ok() ? *uid : "";
  }
  // The probe's checkpoint as written (an empty object while there is none).
  kube::Json ProbeCheckpoint() {
    auto pod = kube::ParseJson(Read(Inactive(kProbe)));
    return pod.ok() ? *pod : kube::Json::object();
  }
  std::string ProbeImage() {
    kube::Json pod = ProbeCheckpoint();
    if (!pod.contains("spec")) return "";
    return pod["spec"]["containers"][0].value("image", "");
  }
  std::string ProbeOwnerUid() {
    kube::Json pod = ProbeCheckpoint();
    if (!pod.contains("metadata") || !pod["metadata"].contains("ownerReferences")) return "";
    return pod["metadata"]["ownerReferences"][0].value("uid", "");
  }
  fs::path ProbeToken() {
    return secrets_ / "kube-system" / kProbe / "_projected" / "api-token" / "token";
  }
  // Milliseconds since `t0`.
  static int64_t Since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration_cast<Ms>(std::chrono::steady_clock::now() - t0).count();
  }
  // etcdctl against the test bed's etcd; returns stdout.
  std::string Etcdctl(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {
        "etcdctl", "--endpoints=" + tb_->Env("ETCD_ENDPOINTS"), "--cacert=" + tb_->Env("ETCD_CA"),
        "--cert=" + tb_->Env("ETCD_CERT"), "--key=" + tb_->Env("ETCD_KEY")};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = RunProcess(argv, {{"ETCDCTL_API", "3"}});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return r.out;
  }
  static constexpr const char* kProbe = "watch-probe";

  std::unique_ptr<Testbed> tb_;
  std::unique_ptr<Subprocess> checkpointer_;
  std::unique_ptr<Subprocess> node_;
  fs::path work_, manifests_, inactive_, secrets_, configmaps_, kubeconfig_, log_;
  std::string apiserver_pod_, self_pod_;
  int runs_ = 0;
};

// 1. Inactive checkpoints for each annotated parent, its own checkpoint active, files and modes.
TEST_F(CheckpointE2ETest, InactiveCheckpointsAppearAndOwnIsActive) {
  StartCheckpointer();
  ASSERT_TRUE(WaitFor([&] { return CheckpointsWritten(); }, Ms(20000))) << checkpointer_->Output();
  EXPECT_FALSE(fs::exists(Active(apiserver_pod_))) << "its parent runs";
  EXPECT_EQ(JsonFiles(inactive_).size(), 2u) << "only annotated parents are checkpointed";
  EXPECT_EQ(Mode(Inactive(apiserver_pod_)), 0600u);
  EXPECT_EQ(Mode(Active(self_pod_)), 0600u);
  EXPECT_EQ(Read(Active(self_pod_)), Read(Inactive(self_pod_)));

  auto pod = kube::ParseJson(Read(Inactive(apiserver_pod_)));
  ASSERT_TRUE(pod.ok());
  EXPECT_TRUE(kube::ApiObjectReferences((*pod)["spec"]).empty()) << (*pod)["spec"].dump();
  EXPECT_EQ((*pod)["metadata"]["annotations"][std::string(kCheckpointOfAnnotation)],
            apiserver_pod_);
  EXPECT_FALSE((*pod)["spec"].contains("affinity"));
  // Secrets: etcd-client has defaultMode 0400 and items; the pod runs as 65534.
  fs::path etcd = secrets_ / "kube-system" / apiserver_pod_ / "etcd-client";
  for (const char* f : {"ca.crt", "client.crt", "client.key"}) {
    EXPECT_EQ(Mode(etcd / f), 0400u) << f;
    struct stat st;
    ASSERT_EQ(::stat((etcd / f).c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 65534u);
  }
  EXPECT_EQ(Mode(etcd), 0700u);
  EXPECT_EQ(Mode(secrets_ / "kube-system" / apiserver_pod_ / "kube-apiserver" / "apiserver.key"),
            0600u);
  EXPECT_TRUE(fs::exists(configmaps_ / "kube-system" / apiserver_pod_ / "kube-apiserver-config" /
                         "audit-policy.yaml"));
  fs::path bundle = secrets_ / "kube-system" / apiserver_pod_ / "_projected" / "bundle";
  EXPECT_TRUE(fs::exists(bundle / "controller-manager" / "ca.crt"));
  EXPECT_TRUE(fs::exists(bundle / "labels"));
  // The projected service-account token: a token the checkpointer requested for the parent's
  // service account, bound to the parent pod, that the API server accepts (TokenReview).
  ASSERT_TRUE(fs::exists(bundle / "token")) << "the projection's token is checkpointed";
  EXPECT_EQ(Mode(bundle / "token"), 0600u);
  kube::Json review = Review(Read(bundle / "token"));
  EXPECT_EQ(review.value("authenticated", false), true) << review.dump();
  EXPECT_EQ(review["user"].value("username", ""), "system:serviceaccount:kube-system:default")
      << review.dump();
  EXPECT_EQ(review["user"]["extra"]["authentication.kubernetes.io/pod-name"],
            kube::Json::array({apiserver_pod_}))
      << "bound to the parent pod: " << review.dump();

  // The kubelet runs our own checkpoint and the API server accepts its mirror pod.
  EXPECT_TRUE(WaitFor(
      [&] {
        return Kubectl({"-n", "kube-system", "get", "pod", self_pod_ + "-node-1"}).ok();
      },
      Ms(30000)));
  // The service account's RBAC is enough for the kubelet's secure port.
  EXPECT_NE(checkpointer_->Output().find("reading the kubelet's pods from https://"),
            std::string::npos)
      << checkpointer_->Output();
  EXPECT_NE(checkpointer_->Output().find("runtime.v1alpha2"), std::string::npos);
  int port = MetricsPort();
  ASSERT_GT(port, 0);
  EXPECT_EQ(Http("http://127.0.0.1:" + std::to_string(port) + "/healthz"), "ok");
  std::string metrics = Http("http://127.0.0.1:" + std::to_string(port) + "/metrics");
  EXPECT_NE(metrics.find("lifeboat_checkpointer_checkpoints{state=\"inactive\"} 1"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("lifeboat_checkpointer_checkpoints{state=\"active\"} 1"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("lifeboat_checkpointer_errors_total{source=\"runtime\"} 0"),
            std::string::npos)
      << metrics;
  // The DaemonSet of deploy/ is accepted by the API server as it stands.
  auto dry = Kubectl({"apply", "--dry-run=server", "-f",
                      std::string(LIFEBOAT_SOURCE_DIR) + "/deploy/pod-checkpointer.yaml"});
  EXPECT_TRUE(dry.ok()) << dry.status();
  StopCheckpointer();
}

// 2. API server stopped and the node rebooted: the apiserver checkpoint is activated and runs.
TEST_F(CheckpointE2ETest, ApiDownAndNodeRebootActivatesTheApiServerCheckpoint) {
  StartCheckpointer();
  ASSERT_TRUE(WaitFor([&] { return CheckpointsWritten(); }, Ms(20000))) << checkpointer_->Output();
  ASSERT_TRUE(tb_->Script("stop", {"apiserver"}).ok());
  std::this_thread::sleep_for(Ms(3000));
  EXPECT_FALSE(fs::exists(Active(apiserver_pod_))) << "the parent still runs: nothing to activate";
  RebootNodeWithoutApi();
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor([&] { return fs::exists(Active(apiserver_pod_)); }, Ms(20000), Ms(20)))
      << checkpointer_->Output();
  auto ms = std::chrono::duration_cast<Ms>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "activation " << ms << " ms after the node's relaunch" << std::endl;
  RecordProperty("activation_ms", static_cast<int>(ms));
  // The rebooted kubelet runs it as a static pod: it shows in /pods and in the runtime.
  std::string static_name = apiserver_pod_ + "-node-1";
  EXPECT_TRUE(WaitFor([&] { return KubeletPods().count(static_name) > 0; }, Ms(30000)));
  EXPECT_TRUE(WaitFor([&] { return RuntimePods().count(static_name) > 0; }, Ms(30000)));
  EXPECT_TRUE(RuntimePods().count(self_pod_ + "-node-1"))
      << "and the checkpointer's own checkpoint";
}

// 3. The API server back and the parent running again: the checkpoint is deactivated.
TEST_F(CheckpointE2ETest, ApiBackAndParentRunningDeactivates) {
  StartCheckpointer();
  ASSERT_TRUE(WaitFor([&] { return CheckpointsWritten(); }, Ms(20000))) << checkpointer_->Output();
  ASSERT_TRUE(tb_->Script("stop", {"apiserver"}).ok());
  RebootNodeWithoutApi();
  ASSERT_TRUE(WaitFor([&] { return fs::exists(Active(apiserver_pod_)); }, Ms(20000)))
      << checkpointer_->Output();
  ASSERT_TRUE(tb_->Script("start", {"apiserver"}).ok());
  // The kubelet learns its pods from the API again. While the checkpoint holds the API server's
  // host port, the kubelet refuses the old DaemonSet pod, which the DaemonSet controller then
  // replaces: upstream's semantics deactivate the checkpoint once its parent runs, or once the
  // parent is gone from the API for the grace period (then the replacement runs).
  std::string parent;
  ASSERT_TRUE(WaitFor(
      [&] {
        parent = PodName("kube-apiserver");
        return !parent.empty() && RuntimePods().count(parent) > 0 &&
               !fs::exists(Active(apiserver_pod_));
      },
      Ms(120000)))
      << checkpointer_->Output();
  std::cout << "API server pod after recovery: " << parent
            << (parent == apiserver_pod_ ? " (the same)" : " (replaced)") << std::endl;
  // The rebooted kubelet may also have refused the checkpointer's own DaemonSet pod, which the
  // DaemonSet controller then replaced: the process running under the old POD_NAME saw its parent
  // gone and, as upstream, removed every checkpoint. A DaemonSet starts the replacement under the
  // new name; so does the test, and the new process must converge to the same state.
  std::string self_now = PodName("pod-checkpointer");
  if (!self_now.empty() && self_now != self_pod_) {
    std::cout << "checkpointer pod replaced: " << self_pod_ << " -> " << self_now << std::endl;
    StopCheckpointer();
    self_pod_ = self_now;
    StartCheckpointer();
  }
  EXPECT_TRUE(WaitFor([&] { return fs::exists(Inactive(parent)) && !fs::exists(Active(parent)); },
                      Ms(20000)))
      << checkpointer_->Output();
  EXPECT_TRUE(WaitFor([&] { return fs::exists(Active(self_pod_)); }, Ms(20000)))
      << checkpointer_->Output();
  EXPECT_TRUE(WaitFor([&] { return JsonFiles(manifests_).size() == 1; }, Ms(20000)))
      << "only our own checkpoint stays active";
  EXPECT_TRUE(WaitFor(
      [&] {
        for (const auto& p : RuntimePods()) {
          if (absl::StartsWith(p, "kube-apiserver-") && absl::EndsWith(p, "-node-1")) return false;
        }
        return true;
      },
      Ms(30000)))
      << "the kubelet stopped the static copy";
}

// 4. Parent deleted in the API: its checkpoint and files are removed after the grace period.
TEST_F(CheckpointE2ETest, DeletedParentRemovedAfterGracePeriod) {
  StartCheckpointer();
  ASSERT_TRUE(WaitFor([&] { return CheckpointsWritten(); }, Ms(20000))) << checkpointer_->Output();
  std::string old = apiserver_pod_;
  using TimePoint = std::chrono::steady_clock::time_point;
  TimePoint last_in_api = std::chrono::steady_clock::now(), gone_from_disk{};
  ASSERT_TRUE(Kubectl({"-n", "kube-system", "delete", "pod", old, "--wait=false"}).ok());
  // Both instants are taken so that a slow machine (slow kubectl, late polls) can only make the
  // measured interval longer: the parent was still in the API when the delete or the last `get`
  // that found it started, and the checkpoint was gone from disk when the check that saw it gone
  // ended.
  bool left_api = false;
  ASSERT_TRUE(WaitFor(
      [&] {
        if (!left_api) {
          auto before = std::chrono::steady_clock::now();
          if (Kubectl({"-n", "kube-system", "get", "pod", old}).ok()) {
            last_in_api = before;
          } else {
            left_api = true;
          }
        }
        if (fs::exists(Inactive(old))) return false;
        gone_from_disk = std::chrono::steady_clock::now();
        return true;
      },
      Ms(90000), Ms(100)))
      << checkpointer_->Output();
  ASSERT_TRUE(left_api);
  auto after = std::chrono::duration_cast<Ms>(gone_from_disk - last_in_api).count();
  std::cout << "checkpoint removed at most " << after
            << " ms after its parent left the API (grace 5 s)" << std::endl;
  EXPECT_GE(after, 4000) << "not before the grace period";
  EXPECT_FALSE(fs::exists(secrets_ / "kube-system" / old));
  EXPECT_FALSE(fs::exists(configmaps_ / "kube-system" / old));
  EXPECT_FALSE(fs::exists(Active(old)));
  // The DaemonSet's replacement gets a checkpoint of its own.
  std::string fresh;
  ASSERT_TRUE(WaitFor(
      [&] {
        fresh = PodName("kube-apiserver");
        return !fresh.empty() && fresh != old;
      },
      Ms(60000)));
  EXPECT_TRUE(WaitFor([&] { return fs::exists(Inactive(fresh)); }, Ms(20000)))
      << checkpointer_->Output();
}

// 5. Runtime unreachable while the API is up: nothing is activated (upstream would activate
// every checkpoint next to its running parent).
TEST_F(CheckpointE2ETest, UnreachableRuntimeActivatesNothing) {
  StartCheckpointer();
  ASSERT_TRUE(WaitFor([&] { return CheckpointsWritten(); }, Ms(20000))) << checkpointer_->Output();
  StopCheckpointer();
  StartCheckpointer(
      {"--container-runtime-endpoint=unix://" + (work_ / "no-runtime.sock").string()});
  ASSERT_TRUE(checkpointer_->WaitForOutput("container runtime", 10000)) << checkpointer_->Output();
  std::this_thread::sleep_for(Ms(5000));
  EXPECT_FALSE(fs::exists(Active(apiserver_pod_))) << checkpointer_->Output();
  EXPECT_EQ(JsonFiles(manifests_), std::set<std::string>{Active(self_pod_).filename().string()});
  int port = MetricsPort();
  std::string metrics = Http("http://127.0.0.1:" + std::to_string(port) + "/metrics");
  EXPECT_EQ(metrics.find("lifeboat_checkpointer_frozen_ticks_total 0"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("lifeboat_checkpointer_activations_total 0"), std::string::npos)
      << metrics;
  EXPECT_NE(checkpointer_->Output().find("no checkpoint changes state"), std::string::npos);
  StopCheckpointer();
}

// 6. The checkpointer's own DaemonSet removed: every checkpoint removed, its own last.
TEST_F(CheckpointE2ETest, OwnDaemonSetRemovedRemovesAllOwnLast) {
  StartCheckpointer();
  ASSERT_TRUE(WaitFor([&] { return CheckpointsWritten(); }, Ms(20000))) << checkpointer_->Output();
  ASSERT_TRUE(
      Kubectl({"-n", "kube-system", "delete", "daemonset", "pod-checkpointer", "--wait=false"})
          .ok());
  ASSERT_TRUE(WaitFor([&] { return JsonFiles(inactive_).empty() && JsonFiles(manifests_).empty(); },
                      Ms(120000)))
      << checkpointer_->Output();
  std::string out = checkpointer_->Output();
  auto other = out.find("checkpoint kube-system/" + apiserver_pod_ + " removed");
  auto own = out.find("checkpoint kube-system/" + self_pod_ + " removed");
  ASSERT_NE(other, std::string::npos) << out;
  ASSERT_NE(own, std::string::npos) << out;
  EXPECT_LT(other, own) << "its own checkpoint goes last";
  EXPECT_FALSE(fs::exists(secrets_ / "kube-system" / apiserver_pod_));
  EXPECT_FALSE(fs::exists(secrets_ / "kube-system" / self_pod_));
  std::this_thread::sleep_for(Ms(3000));
  EXPECT_TRUE(JsonFiles(inactive_).empty()) << "retired: nothing is checkpointed again";
  StopCheckpointer();
}

// 7. SIGKILL at random moments: the manifest dir never holds a partial or invalid file, and a
// restarted checkpointer converges.
TEST_F(CheckpointE2ETest, SigkillNeverLeavesPartialManifests) {
  std::atomic<bool> done{false};
  std::atomic<int> bad{0}, checks{0};
  std::string bad_file;
  std::mutex mu;
  // The kubelet's view: every file not starting with '.' is read as a pod.
  std::thread watcher([&] {
    while (!done) {
      for (const fs::path& dir : {fs::path(manifests_), inactive_}) {
        for (const auto& name : JsonFiles(dir)) {
          std::string text = Read(dir / name);
          if (text.empty() && !fs::exists(dir / name)) continue;  // removed under us
          auto pod = kube::ParseJson(text);
          if (!pod.ok() || !(*pod).contains("spec")) {
            ++bad;
            std::lock_guard<std::mutex> lock(mu);
            bad_file = (dir / name).string() + ": " + text.substr(0, 200);
          }
          ++checks;
        }
      }
    }
  });
  std::mt19937 rng(20261125);
  for (int cycle = 0; cycle < 24; ++cycle) {
    // Make the next run write: drop some checkpoints so they are written (and started) again.
    if (cycle % 2 == 0) {
      for (const auto& n : JsonFiles(inactive_)) fs::remove(inactive_ / n);
      fs::remove(Active(self_pod_));
    }
    if (cycle % 3 == 0) fs::remove_all(secrets_ / "kube-system");
    StartCheckpointer({"--tick-period=100ms", "--refresh-period=0s"});
    std::this_thread::sleep_for(Ms(std::uniform_int_distribution<int>(0, 1200)(rng)));
    checkpointer_->Signal(SIGKILL);
    checkpointer_->Wait(5000);
  }
  StartCheckpointer();
  EXPECT_TRUE(WaitFor([&] { return CheckpointsWritten(); }, Ms(20000))) << checkpointer_->Output();
  std::this_thread::sleep_for(Ms(2000));
  done = true;
  watcher.join();
  EXPECT_EQ(bad, 0) << bad_file;
  std::cout << checks << " manifest reads during 24 SIGKILL cycles" << std::endl;
  EXPECT_GT(checks, 100);
  // Converged: the same files as a clean run, no temp files left.
  EXPECT_EQ(JsonFiles(inactive_).size(), 2u);
  EXPECT_FALSE(fs::exists(Active(apiserver_pod_)));
  for (const fs::path& dir : {fs::path(manifests_), inactive_}) {
    for (auto& e : fs::directory_iterator(dir)) {
      EXPECT_FALSE(absl::StartsWith(e.path().filename().string(), ".lifeboat-tmp")) << e.path();
    }
  }
  StopCheckpointer();
}

// The API server refuses TLS 1.2 (OpenShift's "Modern" profile, CIS-hardened clusters): the
// checkpointer, whose client speaks TLS 1.3, still writes its checkpoints.
class CheckpointTls13E2ETest : public CheckpointE2ETest {
 protected:
  CheckpointTls13E2ETest() { apiserver_args_ = {"--tls-min-version=VersionTLS13"}; }
};

TEST_F(CheckpointTls13E2ETest, CheckpointsAreWrittenAgainstATls13OnlyApiServer) {
  // The premise: this API server does not speak TLS 1.2.
  auto tls12 =
      RunProcess({"sh", "-c",
                  "openssl s_client -tls1_2 -connect 127.0.0.1:" + tb_->Env("APISERVER_PORT") +
                      " </dev/null"});
  EXPECT_NE(tls12.exit_code, 0) << tls12.out;
  StartCheckpointer();
  ASSERT_TRUE(WaitFor([&] { return CheckpointsWritten(); }, Ms(20000))) << checkpointer_->Output();
  EXPECT_EQ(JsonFiles(inactive_).size(), 2u);
  EXPECT_EQ(Read(Active(self_pod_)), Read(Inactive(self_pod_)));
  StopCheckpointer();
}

// The watch across an API server restart: the checkpointer's watch breaks while the API server
// is away; a change of the parent's spec made once it is back reaches the checkpoint within a
// few ticks (bound: 30 s, 30 ticks).
TEST_F(CheckpointE2ETest, WatchFollowsTheParentAcrossAnApiServerRestart) {
  StartCheckpointer();
  CreateProbe("probe:v1");
  ASSERT_TRUE(WaitFor([&] { return ProbeImage() == "probe:v1"; }, Ms(30000)))
      << checkpointer_->Output();
  ASSERT_TRUE(tb_->Script("stop", {"apiserver"}).ok());
  // The checkpointer sees the API server gone (its watch broke, its next attempts fail).
  ASSERT_TRUE(WaitFor(
      [&] {
        std::string m = Http("http://127.0.0.1:" + std::to_string(MetricsPort()) + "/metrics");
        return m.find("lifeboat_checkpointer_errors_total{source=\"api\"} 0") ==
                   std::string::npos &&
               m.find("lifeboat_checkpointer_errors_total{source=\"api\"}") != std::string::npos;
      },
      Ms(30000)))
      << checkpointer_->Output();
  ASSERT_TRUE(tb_->Script("start", {"apiserver"}).ok());
  ASSERT_TRUE(
      Kubectl({"-n", "kube-system", "set", "image", std::string("pod/") + kProbe, "probe=probe:v2"})
          .ok());
  auto changed = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor([&] { return ProbeImage() == "probe:v2"; }, Ms(30000), Ms(50)))
      << checkpointer_->Output();
  int64_t ms = Since(changed);
  std::cout << "checkpoint updated " << ms << " ms after the change (API server restarted)"
            << std::endl;
  RecordProperty("restart_convergence_ms", static_cast<int>(ms));
  // Either is right; which one the API server's watch cache led to is worth knowing.
  std::cout << "the watch after the restart: "
            << (checkpointer_->Output().find("listing again") != std::string::npos
                    ? "relisted (410 Gone)"
                    : "resumed from its resourceVersion")
            << std::endl;
  StopCheckpointer();
}

// A parent deleted and created again under the same name (a new UID, another spec): the
// checkpoint becomes the new pod's, its owner the new UID, and its token is requested again,
// bound to the new pod (the old pod's token is refused by the API server once that pod is gone).
TEST_F(CheckpointE2ETest, ParentDeletedAndRecreatedWithTheSameName) {
  StartCheckpointer();
  std::string uid1 = CreateProbe("probe:v1");
  ASSERT_TRUE(
      WaitFor([&] { return ProbeOwnerUid() == uid1 && fs::exists(ProbeToken()); }, Ms(30000)))
      << checkpointer_->Output();
  std::string token1 = Read(ProbeToken());
  ASSERT_TRUE(
      Kubectl({"-n", "kube-system", "delete", "pod", kProbe, "--grace-period=0", "--force"}).ok());
  ASSERT_TRUE(WaitFor(
      [&] {
        return !Kubectl({"-n", "kube-system", "get", "pod", kProbe}).ok();
      },
      Ms(30000)));
  std::string uid2 = CreateProbe("probe:v2");
  auto recreated = std::chrono::steady_clock::now();
  ASSERT_NE(uid1, uid2);
  ASSERT_TRUE(WaitFor([&] { return ProbeImage() == "probe:v2" && ProbeOwnerUid() == uid2; },
                      Ms(30000), Ms(50)))
      << checkpointer_->Output();
  int64_t ms = Since(recreated);
  std::cout << "checkpoint of the re-created pod " << ms << " ms after its creation" << std::endl;
  RecordProperty("recreate_convergence_ms", static_cast<int>(ms));
  std::string token2 = Read(ProbeToken());
  EXPECT_NE(token2, token1);
  kube::Json review = Review(token2);
  EXPECT_EQ(review.value("authenticated", false), true) << review.dump();
  EXPECT_EQ(review["user"]["extra"]["authentication.kubernetes.io/pod-uid"],
            kube::Json::array({uid2}))
      << review.dump();
  EXPECT_NE(Review(token1).value("authenticated", false), true) << "bound to the deleted pod";
  // It stays in place: not removed after the grace period as the deleted pod's would be.
  std::this_thread::sleep_for(Ms(7000));
  EXPECT_EQ(ProbeOwnerUid(), uid2) << checkpointer_->Output();
  StopCheckpointer();
}

// The token of a checkpointed pod is renewed while the API server answers (here every 5 s with
// --token-max-age; by default at 80% of its life, at least 8 minutes), each renewal accepted by
// the API server; kept while the API server is away and accepted when it is back; the parent
// deleted, the checkpoint and its token files go after the grace period.
TEST_F(CheckpointE2ETest, TokenIsRenewedAndGoesWithItsParent) {
  StartCheckpointer({"--token-max-age=5s"});
  std::string uid = CreateProbe("probe:v1");
  ASSERT_TRUE(WaitFor([&] { return fs::exists(ProbeToken()); }, Ms(30000)))
      << checkpointer_->Output();
  std::string token1 = Read(ProbeToken());
  auto written = std::chrono::steady_clock::now();
  EXPECT_EQ(Mode(ProbeToken()), 0600u);
  EXPECT_EQ(Review(token1).value("authenticated", false), true);
  ASSERT_TRUE(WaitFor([&] { return Read(ProbeToken()) != token1; }, Ms(60000), Ms(100)))
      << checkpointer_->Output();
  std::cout << "token renewed " << Since(written) << " ms after it was written (--token-max-age=5s)"
            << std::endl;
  std::string token2 = Read(ProbeToken());
  ASSERT_FALSE(token2.empty());
  EXPECT_EQ(Mode(ProbeToken()), 0600u);
  kube::Json review = Review(token2);
  EXPECT_EQ(review.value("authenticated", false), true) << review.dump();
  EXPECT_EQ(review["user"]["extra"]["authentication.kubernetes.io/pod-uid"],
            kube::Json::array({uid}))
      << review.dump();
  EXPECT_NE(checkpointer_->Output().find("checkpoint kube-system/" + std::string(kProbe) +
                                         ": token of service account default"),
            std::string::npos);

  // The API server away: nothing renews the token, the checkpoint keeps the last one; back, the
  // API server accepts the token the checkpoint holds, and renewals go on.
  ASSERT_TRUE(tb_->Script("stop", {"apiserver"}).ok());
  std::this_thread::sleep_for(Ms(2000));  // a write under way when it stopped is done
  std::string kept = Read(ProbeToken());
  std::this_thread::sleep_for(Ms(12000));  // more than twice --token-max-age
  EXPECT_EQ(Read(ProbeToken()), kept) << "kept while the API server is away";
  ASSERT_TRUE(tb_->Script("start", {"apiserver"}).ok());
  kube::Json back = Review(Read(ProbeToken()));
  EXPECT_EQ(back.value("authenticated", false), true) << back.dump();
  ASSERT_TRUE(WaitFor([&] { return Read(ProbeToken()) != kept; }, Ms(60000), Ms(100)))
      << checkpointer_->Output();
  EXPECT_EQ(Review(Read(ProbeToken())).value("authenticated", false), true);

  ASSERT_TRUE(
      Kubectl({"-n", "kube-system", "delete", "pod", kProbe, "--grace-period=0", "--force"}).ok());
  ASSERT_TRUE(WaitFor([&] { return !fs::exists(Inactive(kProbe)) && !fs::exists(ProbeToken()); },
                      Ms(60000)))
      << checkpointer_->Output();
  EXPECT_FALSE(fs::exists(secrets_ / "kube-system" / kProbe));
  StopCheckpointer();
}

// 410 Gone from a real etcd compaction. The API server runs without its watch cache, so a watch
// is served by etcd itself and only a compaction can make its resourceVersion too old. While the
// checkpointer is frozen (SIGSTOP), the API server restarts (its watch connection is gone), the
// parent's spec changes and etcd is compacted past that change: the checkpointer's resumed watch
// gets 410 Gone, and only a relist can show it the change.
class CheckpointEtcdWatchE2ETest : public CheckpointE2ETest {
 protected:
  CheckpointEtcdWatchE2ETest() { apiserver_args_ = {"--watch-cache=false"}; }
};

TEST_F(CheckpointEtcdWatchE2ETest, GoneAfterEtcdCompactionRelistsAndConverges) {
  StartCheckpointer();
  CreateProbe("probe:v1");
  ASSERT_TRUE(WaitFor([&] { return ProbeImage() == "probe:v1"; }, Ms(30000)))
      << checkpointer_->Output();
  checkpointer_->Signal(SIGSTOP);
  ASSERT_TRUE(tb_->Script("stop", {"apiserver"}).ok());
  ASSERT_TRUE(tb_->Script("start", {"apiserver"}).ok());
  ASSERT_TRUE(
      Kubectl({"-n", "kube-system", "set", "image", std::string("pod/") + kProbe, "probe=probe:v2"})
          .ok());
  auto put = kube::ParseJson(Etcdctl({"put", "/lifeboat-e2e/compact-here", "x", "-w", "json"}));
  ASSERT_TRUE(put.ok());
  int64_t revision = (*put)["header"].value("revision", int64_t{0});
  ASSERT_GT(revision, 0);
  Etcdctl({"compact", std::to_string(revision)});
  checkpointer_->Signal(SIGCONT);
  auto resumed = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor([&] { return ProbeImage() == "probe:v2"; }, Ms(30000), Ms(50)))
      << checkpointer_->Output();
  int64_t ms = Since(resumed);
  std::cout << "checkpoint updated " << ms
            << " ms after the checkpointer resumed (410 Gone, relist)" << std::endl;
  RecordProperty("gone_convergence_ms", static_cast<int>(ms));
  std::string out = checkpointer_->Output();
  auto gone = out.find("code 410); listing again");
  if (gone != std::string::npos) {
    auto bol = out.rfind('\n', gone);
    std::cout << out.substr(bol + 1, out.find('\n', gone) - bol - 1) << std::endl;
  }
  EXPECT_NE(gone, std::string::npos) << "the 410 path was taken:\n" << out;
  EXPECT_EQ(Read(Active(self_pod_)), Read(Inactive(self_pod_)));
  StopCheckpointer();
}

TEST(CheckpointCliTest, UsageErrors) {
  auto r = RunProcess({"env", "-u", "NODE_NAME", "-u", "POD_NAME", "-u", "POD_NAMESPACE",
                       LifeboatBinary("checkpoint"), "--lock-file=/tmp/lifeboat-cli-test.lock"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("NODE_NAME, POD_NAME and POD_NAMESPACE"), std::string::npos) << r.err;
  r = RunProcess({"env", "NODE_NAME=n", "POD_NAME=p", "POD_NAMESPACE=ns", LifeboatBinary(),
                  "checkpoint", "--checkpoint-grace-period=soon"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("--checkpoint-grace-period=soon is not a duration"), std::string::npos)
      << r.err;
  r = RunProcess({LifeboatBinary("checkpoint"), "--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* flag :
       {"--lock-file", "--kubeconfig", "--container-runtime-endpoint", "--runtime-request-timeout",
        "--checkpoint-grace-period", "--pod-manifest-path", "--metrics-address", "--tick-period"}) {
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace lifeboat::checkpoint
