#include "checkpoint/checkpointer.h"

#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/escaping.h"
#include "base/file.h"
#include "gtest/gtest.h"
#include "testing/fake_sources.h"
#include "testing/faulty_file_ops.h"
#include "testing/process.h"

namespace lifeboat::checkpoint {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;
using lifeboat::testing::FakeSources;

std::string Read(const fs::path& p) { return lifeboat::testing::ReadFile(p); }

mode_t Mode(const fs::path& p) { return lifeboat::testing::FileMode(p); }

Json Secret(const std::string& name, std::map<std::string, std::string> data) {
  Json d = Json::object();
  for (auto& [k, v] : data) d[k] = absl::Base64Escape(v);
  return {{"kind", "Secret"}, {"metadata", {{"name", name}, {"namespace", "kube-system"}}}, {"data", d}};
}

Json Pod(const std::string& name, const Json& spec) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"name", name},
            {"namespace", "kube-system"},
            {"uid", "uid-" + name},
            {"annotations", {{"checkpointer.alpha.coreos.com/checkpoint", "true"},
                             {"kubernetes.io/config.source", "api"}}}}},
          {"spec", spec},
          {"status", {{"phase", "Running"}}}};
}

const PodId kApi{"kube-system", "kube-apiserver-abcde"};
const PodId kSelf{"kube-system", "pod-checkpointer-xyz"};

class CheckpointerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lifeboat-ckpt-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    layout_ = Layout{root_ / "inactive-manifests", root_ / "manifests", root_ / "checkpoint-secrets",
                     root_ / "checkpoint-configmaps"};
    src_.objects["Secret/kube-apiserver"] = Secret("kube-apiserver", {{"apiserver.key", "KEY"}, {"ca.crt", "CA"}});
    src_.objects["Secret/env"] = Secret("env", {{"token", "T0K3N"}});
    src_.AddParent(ApiServer());
    src_.AddParent(Pod(kSelf.name, Json::parse(R"({"containers": [{"name": "checkpointer"}]})")));
    Restart();
  }
  void TearDown() override {
    checkpointer_.reset();
    store_.reset();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  static Json ApiServer(const std::string& image = "kube-apiserver:v1.20.2") {
    return Pod(kApi.name, Json::parse(R"({
      "securityContext": {"runAsUser": 65534, "fsGroup": 65533},
      "nodeSelector": {"node-role.kubernetes.io/master": ""},
      "containers": [{"name": "kube-apiserver", "image": ")" + image + R"(",
        "env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "env", "key": "token"}}}]}],
      "volumes": [{"name": "secrets", "secret": {"secretName": "kube-apiserver",
                   "items": [{"key": "apiserver.key", "path": "apiserver.key", "mode": 256}, {"key": "ca.crt", "path": "ca.crt"}]}}]})"));
  }
  // A new checkpointer process over the same disk.
  void Restart(Duration grace = seconds(30), Duration kubelet_refresh = Duration::zero()) {
    checkpointer_.reset();
    store_ = std::make_unique<Store>(layout_, ops_);
    ASSERT_TRUE(store_->Init().ok());
    Options o;
    o.pod_namespace = "kube-system";
    o.pod_name = kSelf.name;
    o.node_name = "node-1";
    o.grace = grace;
    o.kubelet_refresh = kubelet_refresh;
    o.token_max_age = token_max_age_;
    checkpointer_ = std::make_unique<Checkpointer>(o, src_, *store_, metrics_);
  }
  Plan Tick(Duration advance = seconds(1)) {
    now_ += advance;
    return checkpointer_->Tick(now_);
  }
  State StateOf(const PodId& id) {
    auto& s = checkpointer_->states().by_id;
    auto it = s.find(id);
    return it == s.end() ? State::kNone : it->second.state;
  }
  bool Active(const PodId& id) { return fs::exists(layout_.ActiveManifest(id)); }
  bool Inactive(const PodId& id) { return fs::exists(layout_.InactiveManifest(id)); }
  void ApiDown() { src_.api_error = absl::UnavailableError("connection refused"); }
  void ApiUp() { src_.api_error = absl::OkStatus(); }

  lifeboat::testing::FaultyFileOps ops_;  // the real system calls until a test injects faults
  fs::path root_;
  Layout layout_;
  FakeSources src_;
  Metrics metrics_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Checkpointer> checkpointer_;
  Time now_ = Time{} + std::chrono::hours(1);
  Duration token_max_age_ = std::chrono::hours(24);
};

TEST_F(CheckpointerTest, FirstTickWritesCheckpointsAndActivatesOwn) {
  Tick();
  EXPECT_EQ(StateOf(kApi), State::kInactive);
  EXPECT_EQ(StateOf(kSelf), State::kActive);
  ASSERT_TRUE(Inactive(kApi));
  EXPECT_FALSE(Active(kApi));
  EXPECT_TRUE(Active(kSelf));
  EXPECT_EQ(Read(layout_.ActiveManifest(kSelf)), Read(layout_.InactiveManifest(kSelf)));
  EXPECT_EQ(Mode(layout_.InactiveManifest(kApi)), 0600u);
  EXPECT_EQ(Mode(layout_.ActiveManifest(kSelf)), 0600u);

  Json manifest = Json::parse(Read(layout_.InactiveManifest(kApi)));
  EXPECT_TRUE(kube::ApiObjectReferences(manifest["spec"]).empty());
  EXPECT_FALSE(manifest["spec"].contains("nodeSelector"));
  EXPECT_EQ(manifest["spec"]["containers"][0]["env"][0]["value"], "T0K3N");
  fs::path dir = layout_.SecretsDir(kApi) / "kube-apiserver";
  EXPECT_EQ(manifest["spec"]["volumes"][0]["hostPath"]["path"], dir.string());
  EXPECT_EQ(Read(dir / "apiserver.key"), "KEY");
  EXPECT_EQ(Mode(dir / "apiserver.key"), 0400u);
  EXPECT_EQ(Mode(dir / "ca.crt"), 0600u);
  EXPECT_EQ(Mode(dir), 0700u);
  struct stat st;
  ASSERT_EQ(::stat((dir / "ca.crt").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  EXPECT_EQ(st.st_gid, 65533u);
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  ASSERT_EQ(::stat(layout_.SecretsDir(kApi).c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u) << "only the volume dirs belong to the pod's user";

  // Steady state: nothing is fetched or rewritten every tick.
  int gets = src_.object_gets;
  auto mtime = fs::last_write_time(layout_.InactiveManifest(kApi));
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(Tick().actions.empty());
  EXPECT_EQ(src_.object_gets, gets);
  EXPECT_EQ(fs::last_write_time(layout_.InactiveManifest(kApi)), mtime);
}

TEST_F(CheckpointerTest, ParentLostWhileApiDownIsActivatedUntilItRunsAgain) {
  Tick();
  ApiDown();
  Tick();
  EXPECT_FALSE(Active(kApi)) << "the parent still runs";
  // Node reboot: the runtime forgot everything, the kubelet knows nothing without the API.
  src_.running.clear();
  src_.kubelet.clear();
  Plan p = Tick();
  EXPECT_EQ(StateOf(kApi), State::kActive);
  ASSERT_TRUE(Active(kApi));
  EXPECT_EQ(Read(layout_.ActiveManifest(kApi)), Read(layout_.InactiveManifest(kApi)));
  EXPECT_TRUE(Active(kSelf));
  EXPECT_NE(metrics_.Render().find("lifeboat_checkpointer_activations_total 2"), std::string::npos);
  // The API server comes back (from the checkpoint) and the parent runs again.
  ApiUp();
  src_.AddParent(ApiServer());
  src_.AddParent(Pod(kSelf.name, Json::parse(R"({"containers": [{"name": "checkpointer"}]})")));
  Tick();
  EXPECT_EQ(StateOf(kApi), State::kInactive);
  EXPECT_FALSE(Active(kApi));
  EXPECT_TRUE(Inactive(kApi));
  EXPECT_TRUE(Active(kSelf)) << "our own stays active";
}

TEST_F(CheckpointerTest, UnreadableRuntimeActivatesNothing) {
  Tick();
  src_.runtime_error = absl::UnavailableError("connection refused");
  src_.running.clear();
  for (int i = 0; i < 3; ++i) {
    Plan p = Tick();
    EXPECT_TRUE(p.frozen);
  }
  EXPECT_FALSE(Active(kApi));
  EXPECT_EQ(StateOf(kApi), State::kInactive);
  EXPECT_NE(metrics_.Render().find("lifeboat_checkpointer_frozen_ticks_total 3"), std::string::npos);
  src_.runtime_error = absl::OkStatus();
  src_.running = {kApi, kSelf};
  EXPECT_FALSE(Tick().frozen);
  EXPECT_FALSE(Active(kApi));
}

TEST_F(CheckpointerTest, DeletedParentRemovedAfterGrace) {
  Tick();
  src_.api.erase(kApi);
  src_.kubelet.erase(kApi);
  src_.running.erase(kApi);
  Tick();
  EXPECT_EQ(StateOf(kApi), State::kInactiveGrace);
  EXPECT_TRUE(Inactive(kApi));
  Tick(seconds(31));
  EXPECT_FALSE(Inactive(kApi));
  EXPECT_FALSE(fs::exists(layout_.SecretsDir(kApi)));
  EXPECT_FALSE(fs::exists(layout_.ConfigMapsDir(kApi)));
  EXPECT_TRUE(Active(kSelf));
  Tick();
  EXPECT_EQ(checkpointer_->states().by_id.count(kApi), 0u);
}

TEST_F(CheckpointerTest, OwnDaemonSetGoneRemovesEverythingOwnLast) {
  Tick();
  src_.api.erase(kSelf);
  src_.kubelet.erase(kSelf);
  Tick();
  EXPECT_EQ(StateOf(kSelf), State::kActiveGrace);
  Plan p = Tick(seconds(31));
  ASSERT_EQ(p.actions.size(), 2u);
  EXPECT_EQ(p.actions.back().id, kSelf);
  EXPECT_FALSE(Inactive(kApi));
  EXPECT_FALSE(Inactive(kSelf));
  EXPECT_FALSE(Active(kSelf));
  for (int i = 0; i < 3; ++i) Tick();
  EXPECT_FALSE(Inactive(kApi)) << "no new checkpoints once retired";
  EXPECT_TRUE(fs::is_empty(layout_.inactive_dir));
  EXPECT_TRUE(fs::is_empty(layout_.manifest_dir));
}

TEST_F(CheckpointerTest, ResumesUpstreamBootkubeCheckpointAfterRestart) {
  // An upstream checkpoint on disk, the checkpointer starting on a rebooted node with no API.
  fs::path upstream = fs::path(LIFEBOAT_SOURCE_DIR) / "testdata/checkpoint/upstream/kube-system-kube-apiserver-7kq2m.json";
  PodId old{"kube-system", "kube-apiserver-7kq2m"};
  fs::copy_file(upstream, layout_.InactiveManifest(old));
  ASSERT_TRUE(base::WriteFileAtomic(layout_.manifest_dir / ".lifeboat-tmp-kube-system-x.json-123", "{", 0600).ok());
  ASSERT_TRUE(base::WriteFileAtomic(layout_.manifest_dir / "etcd.yaml", "kind: Pod\n", 0600).ok());
  Restart();
  EXPECT_FALSE(fs::exists(layout_.manifest_dir / ".lifeboat-tmp-kube-system-x.json-123"));
  ApiDown();
  src_.running.clear();
  src_.kubelet.clear();
  Tick();
  EXPECT_EQ(StateOf(old), State::kActive);
  EXPECT_TRUE(Active(old));
  EXPECT_EQ(Read(layout_.ActiveManifest(old)), Read(upstream));
  EXPECT_TRUE(fs::exists(layout_.manifest_dir / "etcd.yaml")) << "other static pods are not ours";
}

TEST_F(CheckpointerTest, RestartKeepsActiveCheckpointsActive) {
  Tick();
  ApiDown();
  src_.running.clear();
  src_.kubelet.clear();
  Tick();
  ASSERT_TRUE(Active(kApi));
  Restart();
  Plan p = Tick();
  EXPECT_TRUE(p.actions.empty());
  EXPECT_EQ(StateOf(kApi), State::kActive);
  EXPECT_TRUE(Active(kApi));
}

TEST_F(CheckpointerTest, SecretsRefreshedEveryMinuteOrWhenTheSpecChanges) {
  Tick();
  src_.objects["Secret/kube-apiserver"] = Secret("kube-apiserver", {{"apiserver.key", "NEW"}, {"ca.crt", "CA"}});
  Tick(seconds(30));
  fs::path dir = layout_.SecretsDir(kApi) / "kube-apiserver";
  EXPECT_EQ(Read(dir / "apiserver.key"), "KEY") << "not fetched again before 3/4 of the refresh period";
  int gets = src_.object_gets;
  Tick(seconds(31));
  EXPECT_EQ(Read(dir / "apiserver.key"), "NEW");
  EXPECT_EQ(src_.object_gets - gets, 2) << "each Secret once, not once per checkpoint using it";
  // A key the volume lists disappears from the Secret: the last good checkpoint stays.
  src_.objects["Secret/kube-apiserver"] = Secret("kube-apiserver", {{"apiserver.key", "NEWER"}});
  src_.api[kApi] = ApiServer("kube-apiserver:v1.20.9");
  Tick();
  EXPECT_EQ(Read(dir / "apiserver.key"), "NEW");
  EXPECT_EQ(Read(dir / "ca.crt"), "CA");
}

TEST_F(CheckpointerTest, InvalidUpdateKeepsTheLastGoodCheckpoint) {
  Tick();
  std::string good = Read(layout_.InactiveManifest(kApi));
  Json bad = ApiServer("kube-apiserver:v1.21.0");
  bad["spec"]["volumes"].push_back({{"name", "data"}, {"persistentVolumeClaim", {{"claimName", "x"}}}});
  src_.api[kApi] = bad;
  Tick();
  EXPECT_EQ(Read(layout_.InactiveManifest(kApi)), good);
  EXPECT_NE(metrics_.Render().find("lifeboat_checkpointer_errors_total{source=\"write\"} 1"), std::string::npos);
  // A fixed spec is picked up at once.
  src_.api[kApi] = ApiServer("kube-apiserver:v1.21.1");
  Tick();
  EXPECT_NE(Read(layout_.InactiveManifest(kApi)).find("v1.21.1"), std::string::npos);
}

TEST_F(CheckpointerTest, ActiveCheckpointFollowsItsParentsSpec) {
  Tick();
  src_.running.erase(kApi);  // parent not running, API up: upstream activates the checkpoint
  Tick();
  ASSERT_TRUE(Active(kApi));
  src_.api[kApi] = ApiServer("kube-apiserver:v1.20.3");
  Tick();
  EXPECT_NE(Read(layout_.ActiveManifest(kApi)).find("v1.20.3"), std::string::npos);
}

TEST_F(CheckpointerTest, StaleFilesOfThePodAreRemoved) {
  Tick();
  fs::path junk = layout_.SecretsDir(kApi) / "old-secret" / "key";
  fs::create_directories(junk.parent_path());
  std::ofstream(junk) << "x";
  src_.api[kApi] = ApiServer("kube-apiserver:v1.20.4");  // spec change: rewritten now
  Tick();
  EXPECT_FALSE(fs::exists(junk.parent_path()));
  EXPECT_TRUE(fs::exists(layout_.SecretsDir(kApi) / "kube-apiserver" / "ca.crt"));
}

TEST_F(CheckpointerTest, KubeletReadEveryTickByDefault) {
  for (int i = 0; i < 5; ++i) Tick();
  EXPECT_EQ(src_.kubelet_reads, 5);
}

TEST_F(CheckpointerTest, KubeletReadOnlyWhenItDecidesAndEveryRefreshPeriod) {
  Restart(seconds(30), /*kubelet_refresh=*/seconds(10));
  Tick();  // the first tick reads it (is it readable at all?)
  ASSERT_EQ(src_.kubelet_reads, 1);
  EXPECT_TRUE(Inactive(kApi));
  // Steady state: every parent running, every checkpoint decided: nothing asks the kubelet.
  for (int i = 0; i < 5; ++i) Tick();
  EXPECT_EQ(src_.kubelet_reads, 1);

  // A parent updated in the API (new spec): the checkpoint follows; the kubelet decides nothing.
  src_.api[kApi] = src_.kubelet[kApi] = ApiServer("kube-apiserver:v1.20.3");
  Tick();
  EXPECT_NE(Read(layout_.InactiveManifest(kApi)).find("kube-apiserver:v1.20.3"), std::string::npos);
  EXPECT_EQ(src_.kubelet_reads, 1);

  // The API server cannot be read and the parent stops: R alone decides, at once.
  ApiDown();
  src_.running.erase(kApi);
  Tick();
  EXPECT_TRUE(Active(kApi));
  src_.running.insert(kApi);
  Tick();
  EXPECT_FALSE(Active(kApi));
  ApiUp();
  Tick();
  EXPECT_EQ(src_.kubelet_reads, 1);

  // A new parent in the API that is not running here and has no checkpoint yet: whether the
  // kubelet knows it decides, so the kubelet is read each tick until it does.
  Json next = Pod("kube-scheduler-abcde", Json::parse(R"({"containers": [{"name": "s"}]})"));
  const PodId sched = IdOf(next);
  src_.api[sched] = next;
  Tick();
  Tick();
  EXPECT_EQ(src_.kubelet_reads, 3);
  EXPECT_EQ(StateOf(sched), State::kNone);
  // A failed read while it decides: nothing is decided on its behalf, and it is read again.
  src_.kubelet_error = absl::UnavailableError("kubelet down");
  src_.kubelet[sched] = next;
  Tick();
  EXPECT_EQ(src_.kubelet_reads, 4);
  EXPECT_EQ(StateOf(sched), State::kNone);
  EXPECT_FALSE(Inactive(sched));
  src_.kubelet_error = absl::OkStatus();
  // Known to the kubelet and not running: upstream's table starts its checkpoint.
  Tick();
  EXPECT_EQ(src_.kubelet_reads, 5);
  EXPECT_EQ(StateOf(sched), State::kActive);
  EXPECT_TRUE(Active(sched));
  // Decided: the kubelet is not needed any more, even while that parent is not running.
  Tick();
  Tick();
  EXPECT_EQ(src_.kubelet_reads, 5);

  // And at least every refresh period, to notice a kubelet that cannot be read.
  Tick(seconds(10));
  EXPECT_EQ(src_.kubelet_reads, 6);
  Tick();
  EXPECT_EQ(src_.kubelet_reads, 6);
}

// The runtime is unreadable for its first answers (a node booting), then shows the parent gone.
class BootingRuntime : public FakeSources {
 public:
  std::atomic<int> calls{0};
  absl::StatusOr<std::set<PodId>> RunningPods() override {
    if (++calls <= 3) return absl::UnavailableError("no runtime socket yet");
    return FakeSources::RunningPods();
  }
};

TEST_F(CheckpointerTest, FrozenTicksAreRetriedSoonerThanThePeriod) {
  Tick();  // checkpoints written
  ASSERT_TRUE(Inactive(kApi));
  BootingRuntime booting;
  booting.kubelet = src_.kubelet;
  booting.api = src_.api;
  booting.objects = src_.objects;
  booting.api_error = absl::UnavailableError("API server down");
  booting.running = {kSelf};  // the API server's pod is gone with the reboot
  Options o;
  o.pod_namespace = "kube-system";
  o.pod_name = kSelf.name;
  o.node_name = "node-1";
  Checkpointer c(o, booting, *store_, metrics_);
  // The period is an hour; the frozen ticks are retried after 100 ms. Waiting up to a minute
  // (600x the retry, 1/60 of the period) tells the two apart however busy the machine is.
  auto start = std::chrono::steady_clock::now();
  std::thread loop([&] { c.Run(std::chrono::hours(1)); });
  while (!Active(kApi) && std::chrono::steady_clock::now() - start < std::chrono::seconds(60)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  c.Stop();
  loop.join();
  EXPECT_TRUE(Active(kApi)) << "activated on the first tick that could read the runtime, not a period later";
  EXPECT_GE(booting.calls.load(), 4);
}

TEST_F(CheckpointerTest, ApiUnreachableAndEmptyDiskAttemptsNothingThenCheckpointsOnTheFirstAnswer) {
  // A node whose kubelet still knows its pods (and runs ours), an API server that does not
  // answer, nothing on disk.
  ApiDown();
  src_.running = {kSelf};
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 5; ++i) {
    Plan p = Tick();
    EXPECT_TRUE(p.actions.empty()) << "tick " << i;
    EXPECT_TRUE(p.changes.empty()) << "tick " << i;
  }
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(log.find("cannot activate"), std::string::npos) << log;
  EXPECT_EQ(log.find("->"), std::string::npos) << log;
  // One line, saying what is going on.
  int lines = 0;
  for (char c : log) lines += c == '\n';
  EXPECT_EQ(lines, 1) << log;
  EXPECT_NE(log.find("no checkpoint on disk yet"), std::string::npos) << log;
  EXPECT_NE(log.find("connection refused"), std::string::npos) << log;
  EXPECT_TRUE(fs::is_empty(layout_.inactive_dir));
  EXPECT_TRUE(fs::is_empty(layout_.manifest_dir));
  EXPECT_NE(metrics_.Render().find("lifeboat_checkpointer_activations_total 0"), std::string::npos);

  // The first tick with an answer writes the checkpoints (and starts our own).
  ApiUp();
  Tick();
  EXPECT_TRUE(Inactive(kApi));
  EXPECT_TRUE(Inactive(kSelf));
  EXPECT_TRUE(Active(kSelf));
  EXPECT_EQ(StateOf(kSelf), State::kActive);
}

TEST_F(CheckpointerTest, SpecComesFromTheApiServerNeverFromTheKubelet) {
  // Whatever answers on the kubelet's port says the API server's pod runs another command.
  Json forged = ApiServer("evil:latest");
  forged["spec"]["containers"][0]["command"] = Json::array({"/bin/sh", "-c", "steal"});
  src_.kubelet[kApi] = forged;
  Tick();
  std::string manifest = Read(layout_.InactiveManifest(kApi));
  EXPECT_NE(manifest.find("kube-apiserver:v1.20.2"), std::string::npos) << manifest;
  EXPECT_EQ(manifest.find("evil"), std::string::npos) << manifest;
  EXPECT_EQ(manifest.find("steal"), std::string::npos) << manifest;
  // A kubelet that changes its story changes nothing on disk either; the API server's does.
  forged["spec"]["containers"][0]["image"] = "evil:v2";
  src_.kubelet[kApi] = forged;
  src_.running.erase(kApi);  // and the parent stopped: the API server's spec is activated
  Tick();
  ASSERT_TRUE(Active(kApi));
  EXPECT_EQ(Read(layout_.ActiveManifest(kApi)).find("evil"), std::string::npos);
  src_.api[kApi] = ApiServer("kube-apiserver:v1.20.3");
  Tick();
  EXPECT_NE(Read(layout_.ActiveManifest(kApi)).find("kube-apiserver:v1.20.3"), std::string::npos);
}

bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST_F(CheckpointerTest, FullOrFailingDiskKeepsTheLastGoodCheckpointAndCountsTheError) {
  using Op = lifeboat::testing::FaultyFileOps::Op;
  Tick();
  std::string good = Read(layout_.InactiveManifest(kApi));
  int errors = 0;
  for (Op op : {Op::kWrite, Op::kFsync, Op::kRename}) {
    for (int err : {ENOSPC, EIO}) {
      src_.api[kApi] = ApiServer("kube-apiserver:v1.20." + std::to_string(10 + errors));
      ops_.FailAlways(op, err, kApi.FileName());
      Tick();
      ++errors;
      EXPECT_EQ(Read(layout_.InactiveManifest(kApi)), good);
      EXPECT_TRUE(Has(metrics_.Render(), "lifeboat_checkpointer_errors_total{source=\"write\"} " +
                                             std::to_string(errors)))
          << metrics_.Render();
      for (const auto& e : fs::directory_iterator(layout_.inactive_dir)) {
        EXPECT_NE(e.path().filename().string()[0], '.') << "temp file left: " << e.path();
      }
      ops_.Clear();
      // Retried after --retry (5 s) and then written.
      Tick(seconds(5));
      good = Read(layout_.InactiveManifest(kApi));
      EXPECT_TRUE(Has(good, "v1.20." + std::to_string(10 + errors - 1))) << good;
    }
  }
}

TEST_F(CheckpointerTest, ActivationOnAFullDiskIsRetriedAndCounted) {
  Tick();
  ops_.FailAlways(lifeboat::testing::FaultyFileOps::Op::kWrite, ENOSPC, layout_.manifest_dir.string() + "/");
  src_.running.erase(kApi);
  Tick();
  EXPECT_FALSE(Active(kApi));
  EXPECT_TRUE(Has(metrics_.Render(), "lifeboat_checkpointer_errors_total{source=\"apply\"} 1")) << metrics_.Render();
  Tick();
  EXPECT_FALSE(Active(kApi));
  ops_.Clear();
  Tick();
  ASSERT_TRUE(Active(kApi));
  EXPECT_EQ(Read(layout_.ActiveManifest(kApi)), Read(layout_.InactiveManifest(kApi)));
}

TEST_F(CheckpointerTest, OwnCheckpointIsRemovedLastEvenWhenTheDiskFails) {
  Tick();
  src_.api.erase(kSelf);
  src_.kubelet.erase(kSelf);
  Tick();
  // Removing the API server's checkpoint fails (EIO on its manifest): ours must stay.
  ops_.FailAlways(lifeboat::testing::FaultyFileOps::Op::kUnlink, EIO, kApi.FileName());
  Tick(seconds(31));
  EXPECT_TRUE(Inactive(kApi));
  EXPECT_TRUE(Inactive(kSelf));
  EXPECT_TRUE(Active(kSelf)) << "removing our own checkpoint waits for every other";
  EXPECT_TRUE(Has(metrics_.Render(), "lifeboat_checkpointer_errors_total{source=\"apply\"} 2")) << metrics_.Render();
  Tick();
  EXPECT_TRUE(Active(kSelf));
  ops_.Clear();
  Tick();
  EXPECT_FALSE(Inactive(kApi));
  EXPECT_FALSE(Inactive(kSelf));
  EXPECT_FALSE(Active(kSelf));
}

TEST_F(CheckpointerTest, ProjectedTokenIsRequestedBoundToTheParentWrittenAndRenewed) {
  const PodId sched{"kube-system", "kube-scheduler-abc"};
  Json pod = Pod(sched.name, Json::parse(R"({
    "serviceAccountName": "kube-scheduler",
    "containers": [{"name": "s", "volumeMounts": [{"name": "kube-api-access-x",
                    "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]}],
    "volumes": [{"name": "kube-api-access-x", "projected": {"defaultMode": 420, "sources": [
      {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
      {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}}]})"));
  src_.objects["ConfigMap/kube-root-ca.crt"] = {
      {"kind", "ConfigMap"}, {"metadata", {{"name", "kube-root-ca.crt"}}}, {"data", {{"ca.crt", "CA"}}}};
  src_.AddParent(pod);
  Tick();
  ASSERT_EQ(src_.token_requests.size(), 1u);
  EXPECT_EQ(src_.token_requests[0].first, "kube-scheduler");
  const Json& spec = src_.token_requests[0].second["spec"];
  EXPECT_EQ(spec["expirationSeconds"], 3607);
  EXPECT_EQ(spec["boundObjectRef"]["kind"], "Pod");
  EXPECT_EQ(spec["boundObjectRef"]["name"], sched.name);
  EXPECT_EQ(spec["boundObjectRef"]["uid"], "uid-" + sched.name);
  EXPECT_FALSE(spec.contains("audiences")) << "no audience in the projection: the API server's";

  Json manifest = Json::parse(Read(layout_.InactiveManifest(sched)));
  EXPECT_TRUE(kube::ApiObjectReferences(manifest["spec"]).empty()) << manifest.dump();
  EXPECT_FALSE(manifest["spec"].contains("serviceAccountName"));
  EXPECT_EQ(manifest["spec"]["automountServiceAccountToken"], false);
  fs::path dir = manifest["spec"]["volumes"][0]["hostPath"]["path"].get<std::string>();
  EXPECT_EQ(Read(dir / "token"), "token-1-for-kube-scheduler");
  EXPECT_EQ(Mode(dir / "token"), 0600u);
  EXPECT_EQ(Read(dir / "ca.crt"), "CA");

  // The token lives an hour (the server grants 3600 s of the 3607 asked): renewed at 80%.
  Tick(seconds(2800));
  EXPECT_EQ(src_.token_requests.size(), 1u);
  Tick(seconds(100));
  ASSERT_EQ(src_.token_requests.size(), 2u);
  EXPECT_EQ(Read(dir / "token"), "token-2-for-kube-scheduler");
  // Not while the API server is away (the last one stays).
  ApiDown();
  Tick(seconds(3000));
  EXPECT_EQ(src_.token_requests.size(), 2u);
  EXPECT_EQ(Read(dir / "token"), "token-2-for-kube-scheduler");
  ApiUp();
  Tick();
  EXPECT_EQ(src_.token_requests.size(), 3u);

  // The parent deleted: the checkpoint and its token go.
  src_.api.erase(sched);
  src_.kubelet.erase(sched);
  src_.running.erase(sched);
  Tick();
  Tick(seconds(31));
  EXPECT_FALSE(Inactive(sched));
  EXPECT_FALSE(fs::exists(dir / "token"));
  EXPECT_FALSE(fs::exists(layout_.SecretsDir(sched)));
}

// A parent deleted and created again under the same name within the grace period is another pod
// (a new UID): the token bound to the old one is refused by the API server, so a new one is
// requested. And --token-max-age renews a token before 80% of its life.
TEST_F(CheckpointerTest, TokenRequestedAgainForARecreatedParentAndAtTheMaxAge) {
  token_max_age_ = seconds(60);
  Restart();
  const PodId sched{"kube-system", "kube-scheduler-abc"};
  auto make = [&](const std::string& uid) {
    Json pod = Pod(sched.name, Json::parse(R"({
      "containers": [{"name": "s"}],
      "volumes": [{"name": "kube-api-access-x", "projected": {"sources": [
        {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}]}}]})"));
    pod["metadata"]["uid"] = uid;
    return pod;
  };
  src_.AddParent(make("uid-1"));
  Tick();
  ASSERT_EQ(src_.token_requests.size(), 1u);
  Json manifest = Json::parse(Read(layout_.InactiveManifest(sched)));
  fs::path dir = manifest["spec"]["volumes"][0]["hostPath"]["path"].get<std::string>();
  EXPECT_EQ(Read(dir / "token"), "token-1-for-default");
  Tick(seconds(30));
  EXPECT_EQ(src_.token_requests.size(), 1u);
  Tick(seconds(31));
  ASSERT_EQ(src_.token_requests.size(), 2u) << "60 s old: renewed long before 80% of an hour";
  EXPECT_EQ(Read(dir / "token"), "token-2-for-default");

  // Deleted, and a new pod of the same name (new UID) before the grace period ends.
  src_.api.erase(sched);
  Tick();
  src_.AddParent(make("uid-2"));
  Tick();
  ASSERT_EQ(src_.token_requests.size(), 3u);
  EXPECT_EQ(src_.token_requests[2].second["spec"]["boundObjectRef"]["uid"], "uid-2");
  EXPECT_EQ(Read(dir / "token"), "token-3-for-default");
  manifest = Json::parse(Read(layout_.InactiveManifest(sched)));
  EXPECT_EQ(manifest["metadata"]["ownerReferences"][0]["uid"], "uid-2");
}

TEST_F(CheckpointerTest, MetricsText) {
  Tick();
  std::string m = metrics_.Render();
  EXPECT_NE(m.find("lifeboat_checkpointer_checkpoints{state=\"inactive\"} 1"), std::string::npos) << m;
  EXPECT_NE(m.find("lifeboat_checkpointer_checkpoints{state=\"active\"} 1"), std::string::npos) << m;
  EXPECT_NE(m.find("# TYPE lifeboat_checkpointer_tick_duration_seconds summary"), std::string::npos) << m;
  EXPECT_NE(m.find("process_resident_memory_bytes "), std::string::npos) << m;
  EXPECT_TRUE(metrics_.Healthy(seconds(10)));
}

}  // namespace
}  // namespace lifeboat::checkpoint
