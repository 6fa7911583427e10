// `lifeboat doctor` end to end on the real test bed: etcd (Secrets and ConfigMaps encrypted at
// rest), kube-apiserver, controller manager, scheduler and a hollow-kubelet node running the
// self-hosted fixture, with the checkpointer running as a process against the node's
// directories (as in checkpoint_e2e_test), and an etcd backup taken with etcdctl.
//
// One cluster boot serves every case, in order: a healthy cluster is ready; then each failure
// an operator would meet is made real, doctor must report it as the check that fails (exit 1),
// and the cluster is restored and seen ready again before the next case. Every run also checks
// that doctor wrote nothing (the trees it reads and its working directory are unchanged) and
// that its JSON validates against doc/doctor-report.schema.json.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "kube/codec.h"
#include "testing/process.h"
#include "testing/testbed.h"

namespace lifeboat {
namespace {

namespace fs = std::filesystem;
using kube::Json;
using testing::LifeboatBinary;
using testing::ProcessResult;
using testing::RunProcess;
using testing::Subprocess;
using testing::Testbed;
using Ms = std::chrono::milliseconds;

bool WaitFor(const std::function<bool()>& cond, Ms timeout, Ms poll = Ms(500)) {
  auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(poll);
  }
}

std::string EncryptionConfig(char key_byte) {
  return "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
         "- resources: [secrets, configmaps]\n  providers:\n  - aescbc:\n      keys:\n      - "
         "name: key1\n"
         "        secret: " +
         absl::Base64Escape(std::string(32, key_byte)) + "\n  - identity: {}\n";
}

struct DoctorRun {
  int exit_code = -1;
  Json report;
  std::string out, err;
  // The findings of `check`, by subject.
  std::map<std::string, Json> Of(const std::string& check) const {
    std::map<std::string, Json> out;
    for (const auto& f : report["checks"]) {
      if (f["check"] == check) out[f["subject"].get<std::string>()] = f;
    }
    return out;
  }
  std::string Status(const std::string& check, const std::string& subject) const {
    auto of = Of(check);
    auto it = of.find(subject);
    return it == of.end() ? "(none)" : it->second["status"].get<std::string>();
  }
  std::string Worst(const std::string& check) const {
    std::string worst = "(none)";
    for (const auto& [s, f] : Of(check)) {
      std::string st = f["status"];
      if (worst == "(none)" || st == "fail" || (st == "warn" && worst == "ok")) worst = st;
    }
    return worst;
  }
  std::string Text() const { return report.dump(1) + "\n" + err; }
};

class DoctorE2ETest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    s_ = new Shared;
    fs::path cfg =
        fs::temp_directory_path() / ("lifeboat-doctor-e2e-" + std::to_string(::getpid()));
    fs::create_directories(cfg);
    s_->cfg = cfg;
    std::ofstream(cfg / "encryption.yaml") << EncryptionConfig('k');
    std::ofstream(cfg / "wrong.yaml") << EncryptionConfig('w');
    testing::TestbedOptions options;
    options.controllers = true;
    options.nodes = 1;
    options.encryption_config = (cfg / "encryption.yaml").string();
    auto tb = Testbed::Start(options);
    ASSERT_TRUE(tb.ok()) << tb.status();
    s_->tb = *std::move(tb);
    ASSERT_TRUE(s_->tb->Script("load-fixture", {"--wait-running"}).ok());
    ASSERT_TRUE(Kubectl({"apply", "-f",
                         std::string(LIFEBOAT_SOURCE_DIR) + "/deploy/pod-checkpointer-rbac.yaml"})
                    .ok());
    // The fixture's certificates are placeholders; a healthy cluster has real ones (the test
    // bed's PKI, valid for ten years).
    std::string ca = testing::ReadFile(s_->tb->Env("CA_CERT"));
    std::string etcd_client = testing::ReadFile(s_->tb->Env("ETCD_CERT"));
    std::string admin = testing::ReadFile(s_->tb->Env("ADMIN_CERT"));
    PatchSecret("kube-apiserver", {{"ca.crt", ca}, {"apiserver.crt", admin}});
    PatchSecret("controller-manager", {{"ca.crt", ca}});
    PatchSecret("etcd-client", {{"ca.crt", ca}, {"client.crt", etcd_client}});

    s_->work = fs::path(s_->tb->dir()) / "checkpointer";
    fs::create_directories(s_->work);
    s_->manifests = s_->tb->Env("NODE_1_MANIFESTS");
    WriteCheckpointerKubeconfig();
    s_->apiserver_pod = PodName("kube-apiserver");
    ASSERT_FALSE(s_->apiserver_pod.empty());
    StartCheckpointer();
    // The backup, as an operator's backup job takes it.
    s_->backup = fs::path(s_->tb->dir()) / "backups" / "etcd.db";
    fs::create_directories(s_->backup.parent_path());
    ProcessResult save = Etcdctl({"snapshot", "save", s_->backup.string()});
    ASSERT_EQ(save.exit_code, 0) << save.err;
    s_->cwd = fs::path(s_->tb->dir()) / "doctor-cwd";
    fs::create_directories(s_->cwd);
  }
  static void TearDownTestSuite() {
    if (s_ == nullptr) return;
    s_->checkpointer.reset();
    s_->tb.reset();
    std::error_code ec;
    fs::remove_all(s_->cfg, ec);
    delete s_;
    s_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(s_->tb, nullptr) << "the test bed did not start"; }

  static absl::StatusOr<std::string> Kubectl(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {s_->tb->Env("KUBECTL"), "--kubeconfig",
                                     s_->tb->Env("KUBECONFIG")};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = RunProcess(argv);
    if (r.exit_code != 0) return absl::InternalError(r.err);
    return r.out;
  }
  static ProcessResult Etcdctl(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"etcdctl",
                                     "--endpoints",
                                     s_->tb->Env("ETCD_ENDPOINTS"),
                                     "--cacert",
                                     s_->tb->Env("ETCD_CA"),
                                     "--cert",
                                     s_->tb->Env("ETCD_CERT"),
                                     "--key",
                                     s_->tb->Env("ETCD_KEY")};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv, {{"ETCDCTL_API", "3"}});
  }
  static void PatchSecret(const std::string& name, const std::map<std::string, std::string>& data) {
    Json patch = {{"data", Json::object()}};
    for (const auto& [k, v] : data) patch["data"][k] = absl::Base64Escape(v);
    auto r = Kubectl({"-n", "kube-system", "patch", "secret", name, "-p", patch.dump()});
    ASSERT_TRUE(r.ok()) << r.status();
  }
  // The running pod of an app that is not a checkpoint's mirror pod (<pod>-node-1).
  static std::string PodName(const std::string& app) {
    auto out =
        Kubectl({"-n", "kube-system", "get", "pods", "-l", "k8s-app=" + app, "--field-selector",
                 "status.phase=Running", "-o", "jsonpath={.items[*].metadata.name}"});
    if (!out.ok()) return "";
    for (absl::string_view name : absl::StrSplit(*out, ' ', absl::SkipEmpty())) {
      if (!absl::EndsWith(name, "-node-1")) return std::string(name);
    }
    return "";
  }
  static void WriteCheckpointerKubeconfig() {
    std::string token;
    ASSERT_TRUE(WaitFor(
        [&] {
          auto t = Kubectl({"-n", "kube-system", "get", "secret", "pod-checkpointer-token", "-o",
                            "jsonpath={.data.token}"});
          return t.ok() && !t->empty() && absl::Base64Unescape(*t, &token);
        },
        Ms(30000)));
    s_->kubeconfig = s_->work / "kubeconfig";
    std::ofstream(s_->kubeconfig)
        << "apiVersion: v1\nkind: Config\nclusters:\n- name: tb\n  cluster:\n    server: "
        << s_->tb->Env("APISERVER_URL") << "\n    certificate-authority-data: "
        << absl::Base64Escape(testing::ReadFile(s_->tb->Env("CA_CERT")))
        << "\nusers:\n- name: ckpt\n  user:\n    token: " << token
        << "\ncontexts:\n- name: c\n  context:\n    cluster: tb\n    user: ckpt\n"
        << "current-context: c\n";
  }
  // The checkpointer of the node's DaemonSet pod, as that pod would run it; waits for the
  // checkpoint of the API server.
  static void StartCheckpointer() {
    s_->checkpointer.reset();
    std::string self = PodName("pod-checkpointer");
    ASSERT_FALSE(self.empty());
    std::vector<std::string> argv = {
        "env",
        "NODE_NAME=node-1",
        "POD_NAME=" + self,
        "POD_NAMESPACE=kube-system",
        "HOST_IP=127.0.0.1",
        LifeboatBinary("checkpoint"),
        "--lock-file=" + (s_->work / "lock").string(),
        "--kubeconfig=" + s_->kubeconfig.string(),
        "--container-runtime-endpoint=unix://" + s_->tb->Env("NODE_1_CRI_SOCKET"),
        "--runtime-request-timeout=5s",
        "--checkpoint-grace-period=5s",
        "--refresh-period=2s",
        "--inactive-manifest-dir=" + Inactive().string(),
        "--pod-manifest-path=" + s_->manifests.string(),
        "--checkpoint-secrets-dir=" + Secrets().string(),
        "--checkpoint-configmaps-dir=" + ConfigMaps().string(),
        "--kubelet-port=" + s_->tb->Env("NODE_1_PORT"),
        "--kubelet-read-only-port=" + s_->tb->Env("NODE_1_READONLY_PORT"),
        "--api-timeout=3s",
        "--metrics-address=127.0.0.1:0"};
    s_->checkpointer = std::make_unique<Subprocess>(
        argv, (s_->work / ("checkpointer-" + std::to_string(s_->runs++) + ".log")).string());
    std::string want = "kube-system-" + s_->apiserver_pod + ".json";
    ASSERT_TRUE(WaitFor([&] { return fs::exists(Inactive() / want); }, Ms(30000)))
        << s_->checkpointer->Output();
  }
  static void StopCheckpointer() {
    if (!s_->checkpointer) return;
    s_->checkpointer->Signal(SIGTERM);
    EXPECT_EQ(s_->checkpointer->Wait(10000), 0) << s_->checkpointer->Output();
    s_->checkpointer.reset();
  }
  static fs::path Inactive() { return s_->work / "inactive-manifests"; }
  static fs::path Secrets() { return s_->work / "checkpoint-secrets"; }
  static fs::path ConfigMaps() { return s_->work / "checkpoint-configmaps"; }

  // Every file doctor may read, by path, with mode and content.
  static std::map<std::string, std::string> Trees() {
    std::map<std::string, std::string> all;
    for (const fs::path& root : {s_->work, s_->manifests, s_->backup.parent_path(), s_->cwd,
                                 fs::path(s_->tb->Env("KUBECONFIG")).parent_path(), s_->cfg}) {
      for (auto& [rel, content] : testing::ReadTree(root.string()))
        all[(root / rel).string()] = content;
    }
    return all;
  }

  // Runs doctor with every source (API server, etcd, the backup, the node's checkpoints).
  DoctorRun Doctor(const std::vector<std::string>& extra = {}, bool with_backup = true,
                   const std::string& encryption = "encryption.yaml",
                   bool quiet_checkpointer = false) {
    std::vector<std::string> argv = {"env",
                                     "-C",
                                     s_->cwd.string(),
                                     LifeboatBinary(),
                                     "doctor",
                                     "--kubeconfig",
                                     s_->tb->Env("KUBECONFIG"),
                                     "--etcd-servers",
                                     s_->tb->Env("ETCD_ENDPOINTS"),
                                     "--etcd-ca-path",
                                     s_->tb->Env("ETCD_CA"),
                                     "--etcd-certificate-path",
                                     s_->tb->Env("ETCD_CERT"),
                                     "--etcd-private-key-path",
                                     s_->tb->Env("ETCD_KEY"),
                                     "--encryption-provider-config",
                                     (s_->cfg / encryption).string(),
                                     "--node-name",
                                     "node-1",
                                     "--inactive-manifest-dir",
                                     Inactive().string(),
                                     "--pod-manifest-path",
                                     s_->manifests.string(),
                                     "--checkpoint-secrets-dir",
                                     Secrets().string(),
                                     "--checkpoint-configmaps-dir",
                                     ConfigMaps().string(),
                                     "-o",
                                     "json"};
    if (with_backup) argv.insert(argv.end(), {"--etcd-snapshot", s_->backup.string()});
    argv.insert(argv.end(), extra.begin(), extra.end());
    // Nothing written: with the checkpointer stopped, every tree doctor reads is unchanged (a
    // running checkpointer may legitimately update its checkpoints meanwhile).
    bool compare = quiet_checkpointer || !s_->checkpointer;
    auto before = compare ? Trees() : std::map<std::string, std::string>{};
    ProcessResult r = RunProcess(argv);
    if (compare) {
      EXPECT_EQ(Trees(), before) << "doctor wrote something";
    }
    EXPECT_TRUE(fs::is_empty(s_->cwd)) << "doctor wrote into its working directory";
    DoctorRun run;
    run.exit_code = r.exit_code;
    run.out = r.out;
    run.err = r.err;
    auto j = kube::ParseJson(r.out);
    EXPECT_TRUE(j.ok()) << r.out << r.err;
    if (j.ok()) run.report = *j;
    ValidateAgainstSchema(r.out);
    return run;
  }
  // The JSON shape documented in doc/doctor-report.schema.json (python3-jsonschema).
  void ValidateAgainstSchema(const std::string& json) {
    fs::path file = s_->cfg / "report.json";
    std::ofstream(file) << json;
    ProcessResult v = RunProcess(
        {"python3", "-c",
         "import json, sys, jsonschema\n"
         "jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))\n",
         file.string(), std::string(LIFEBOAT_SOURCE_DIR) + "/doc/doctor-report.schema.json"});
    EXPECT_EQ(v.exit_code, 0) << v.err;
  }
  // Polls until doctor reports the cluster ready (after a restore).
  void WaitReady() {
    DoctorRun last;
    bool ready = WaitFor(
        [&] {
          last = Doctor();
          return last.exit_code == 0;
        },
        Ms(180000), Ms(2000));
    ASSERT_TRUE(ready) << "not ready again after the restore:\n" << last.Text();
  }

  struct Shared {
    std::unique_ptr<Testbed> tb;
    std::unique_ptr<Subprocess> checkpointer;
    fs::path cfg, work, manifests, kubeconfig, backup, cwd;
    std::string apiserver_pod;
    int runs = 0;
  };
  static Shared* s_;
};
DoctorE2ETest::Shared* DoctorE2ETest::s_ = nullptr;

// 1. A healthy cluster: every check ok, exit 0; the text report and the metrics file agree.
TEST_F(DoctorE2ETest, HealthyClusterIsReady) {
  DoctorRun run;
  // The checkpointer may still be writing its own checkpoints right after its start.
  ASSERT_TRUE(WaitFor(
      [&] {
        run = Doctor();
        return run.exit_code == 0;
      },
      Ms(60000), Ms(2000)))
      << run.Text();
  EXPECT_EQ(run.report["ready"], true);
  EXPECT_EQ(run.Status("coverage", "node-1"), "ok");
  EXPECT_EQ(run.Status("checkpoint", "kube-system/" + s_->apiserver_pod), "ok");
  EXPECT_EQ(run.Status("dry-run", "api-server"), "ok");
  EXPECT_EQ(run.Status("dry-run", "etcd"), "ok");
  EXPECT_EQ(run.Status("dry-run", "backup"), "ok");
  EXPECT_EQ(run.Status("agreement", "api-server vs etcd"), "ok");
  EXPECT_EQ(run.Status("agreement", "api-server vs backup"), "ok");
  EXPECT_EQ(run.Status("backup", s_->backup.string()), "ok");
  EXPECT_EQ(run.Status("certificates", "all"), "ok");
  EXPECT_NE(
      run.Of("dry-run")["api-server"]["message"].get<std::string>().find("3 bootstrap pod(s)"),
      std::string::npos);

  // Text, with the checkpointer stopped so that the trees are compared, and the metrics file:
  // the only thing doctor writes, when asked.
  StopCheckpointer();
  fs::path metrics = s_->cfg / "metrics" / "lifeboat.prom";
  fs::create_directories(metrics.parent_path());
  auto before = Trees();
  ProcessResult text =
      RunProcess({"env", "-C", s_->cwd.string(), LifeboatBinary(), "doctor", "--kubeconfig",
                  s_->tb->Env("KUBECONFIG"), "--metrics-file", metrics.string()});
  EXPECT_EQ(text.exit_code, 0) << text.out << text.err;
  auto after = Trees();
  for (auto it = after.begin(); it != after.end();) {
    it = absl::StartsWith(it->first, metrics.parent_path().string()) ? after.erase(it)
                                                                     : std::next(it);
  }
  EXPECT_EQ(after, before);
  EXPECT_NE(text.out.find("ok    coverage     node-1: "), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("READY: "), std::string::npos) << text.out;
  std::string prom = testing::ReadFile(metrics.string());
  EXPECT_NE(prom.find("\nlifeboat_doctor_ready 1\n"), std::string::npos) << prom;
  EXPECT_NE(prom.find("lifeboat_doctor_check{check=\"dry-run\"} 0"), std::string::npos) << prom;
  EXPECT_NE(prom.find("lifeboat_doctor_certificate_expiry_timestamp_seconds{"), std::string::npos)
      << prom;
  EXPECT_EQ(testing::FileMode(metrics.string()), 0644u);
  StartCheckpointer();
}

// 2. The backup was encrypted with a key nobody kept (or the operator's copy is wrong).
TEST_F(DoctorE2ETest, WrongEncryptionKey) {
  DoctorRun run = Doctor({}, true, "wrong.yaml");
  EXPECT_EQ(run.exit_code, 1) << run.Text();
  EXPECT_EQ(run.Status("dry-run", "etcd"), "fail") << run.Text();
  EXPECT_EQ(run.Status("dry-run", "backup"), "fail") << run.Text();
  EXPECT_EQ(run.Status("dry-run", "api-server"), "ok") << "the API server decrypts for itself";
  bool names_secret = false;
  for (const auto& f : run.report["checks"]) {
    if (f["subject"] == "etcd" &&
        absl::StrContains(f["message"].get<std::string>(), "Secret kube-system/")) {
      names_secret = true;
    }
  }
  EXPECT_TRUE(names_secret) << run.Text();
}

// 3. The backup file is truncated (a copy interrupted, a full disk).
TEST_F(DoctorE2ETest, TruncatedBackup) {
  fs::path truncated = s_->backup.parent_path() / "truncated.db";
  std::string bytes = testing::ReadFile(s_->backup.string());
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  DoctorRun run = Doctor({"--etcd-snapshot", truncated.string()}, false);
  fs::remove(truncated);
  EXPECT_EQ(run.exit_code, 1) << run.Text();
  EXPECT_EQ(run.Status("backup", truncated.string()), "fail") << run.Text();
  EXPECT_EQ(run.Status("dry-run", "etcd"), "ok");
  EXPECT_EQ(run.Status("coverage", "node-1"), "ok");
}

// 4. The checkpointer DaemonSet no longer covers the node (its nodeSelector changed).
TEST_F(DoctorE2ETest, CheckpointerScaledAwayFromTheNode) {
  StopCheckpointer();  // as the DaemonSet controller would stop its pod
  ASSERT_TRUE(
      Kubectl(
          {"-n", "kube-system", "patch", "ds", "pod-checkpointer", "-p",
           R"({"spec":{"template":{"spec":{"nodeSelector":{"lifeboat-doctor-test":"elsewhere"}}}}})"})
          .ok());
  ASSERT_TRUE(WaitFor([&] { return PodName("pod-checkpointer").empty(); }, Ms(60000)));
  DoctorRun run = Doctor();
  EXPECT_EQ(run.exit_code, 1) << run.Text();
  EXPECT_EQ(run.Status("coverage", "node-1"), "fail") << run.Text();
  EXPECT_NE(run.Of("coverage")["node-1"]["message"].get<std::string>().find("no checkpointer pod"),
            std::string::npos);

  ASSERT_TRUE(
      Kubectl({"-n", "kube-system", "patch", "ds", "pod-checkpointer", "-p",
               R"({"spec":{"template":{"spec":{"nodeSelector":{"lifeboat-doctor-test":null}}}}})"})
          .ok());
  ASSERT_TRUE(WaitFor([&] { return !PodName("pod-checkpointer").empty(); }, Ms(60000)));
  StartCheckpointer();
  WaitReady();
}

// 5. The API server's pod runs a new image but the checkpointer did not follow: the checkpoint
// would bring back the old one.
TEST_F(DoctorE2ETest, StaleCheckpointAfterImageChange) {
  StopCheckpointer();
  std::string pod = PodName("kube-apiserver");
  ASSERT_FALSE(pod.empty());
  ASSERT_TRUE(Kubectl({"-n", "kube-system", "set", "image", "pod/" + pod,
                       "kube-apiserver=k8s.gcr.io/kube-apiserver:v1.20.3"})
                  .ok());
  DoctorRun run = Doctor();
  EXPECT_EQ(run.exit_code, 1) << run.Text();
  std::string subject = "kube-system/" + pod;
  EXPECT_EQ(run.Status("checkpoint", subject), "fail") << run.Text();
  EXPECT_NE(
      run.Of("checkpoint")[subject]["message"].get<std::string>().find("kube-apiserver:v1.20.3"),
      std::string::npos)
      << run.Text();

  ASSERT_TRUE(Kubectl({"-n", "kube-system", "set", "image", "pod/" + pod,
                       "kube-apiserver=k8s.gcr.io/kube-apiserver:v1.20.2"})
                  .ok());
  StartCheckpointer();
  WaitReady();
}

// 6. A Secret the control plane references is deleted: recover would fail.
TEST_F(DoctorE2ETest, DeletedSecret) {
  auto saved = Kubectl({"-n", "kube-system", "get", "secret", "controller-manager", "-o", "json"});
  ASSERT_TRUE(saved.ok());
  ASSERT_TRUE(Kubectl({"-n", "kube-system", "delete", "secret", "controller-manager"}).ok());
  DoctorRun run = Doctor();
  EXPECT_EQ(run.exit_code, 1) << run.Text();
  for (const char* source : {"api-server", "etcd"}) {
    EXPECT_EQ(run.Status("dry-run", source), "fail") << source << run.Text();
    EXPECT_NE(run.Of("dry-run")[source]["message"].get<std::string>().find("controller-manager"),
              std::string::npos)
        << run.Text();
  }
  EXPECT_EQ(run.Status("dry-run", "backup"), "ok") << "the backup still has it";

  Json secret = Json::parse(*saved);
  for (const char* f : {"resourceVersion", "uid", "creationTimestamp", "managedFields"})
    secret["metadata"].erase(f);
  fs::path file = s_->cfg / "secret.json";
  std::ofstream(file) << secret.dump();
  ASSERT_TRUE(Kubectl({"create", "-f", file.string()}).ok());
  WaitReady();
}

// 7. A certificate a recovery depends on expires within the window.
TEST_F(DoctorE2ETest, CertificateExpiringWithinTheWindow) {
  fs::path dir = s_->cfg / "soon";
  fs::create_directories(dir);
  ProcessResult gen =
      RunProcess({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                  "-nodes", "-keyout", (dir / "key.pem").string(), "-out",
                  (dir / "cert.pem").string(), "-days", "10", "-subj", "/CN=kube-apiserver-soon"});
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  auto saved = Kubectl({"-n", "kube-system", "get", "secret", "kube-apiserver", "-o",
                        "jsonpath={.data.apiserver\\.crt}"});
  ASSERT_TRUE(saved.ok());
  PatchSecret("kube-apiserver",
              {{"apiserver.crt", testing::ReadFile((dir / "cert.pem").string())}});
  DoctorRun run = Doctor();
  EXPECT_EQ(run.exit_code, 1) << run.Text();
  std::string subject = "Secret kube-system/kube-apiserver: apiserver.crt";
  EXPECT_EQ(run.Status("certificates", subject), "warn") << run.Text();
  EXPECT_NE(
      run.Of("certificates")[subject]["message"].get<std::string>().find("kube-apiserver-soon"),
      std::string::npos)
      << run.Text();
  // The same certificate is fine with a shorter window.
  DoctorRun shorter = Doctor({"--certificate-window", "168h"});
  EXPECT_EQ(shorter.Status("certificates", subject), "(none)") << shorter.Text();

  std::string original;
  ASSERT_TRUE(absl::Base64Unescape(*saved, &original));
  PatchSecret("kube-apiserver", {{"apiserver.crt", original}});
  WaitReady();
}

}  // namespace
}  // namespace lifeboat
