// `lifeboat recover` from a real etcd (Debian's) and from a snapshot of it, holding objects as a
// v1.36 API server stores them (testdata/storage/versions/v1.36, encoded by protoc from the
// upstream generated.proto, put straight under /registry/...): the fields 1.20 did not have
// reach the bootstrap pod; a field no release has is dropped with a warning that names the etcd
// key, the path and the field number; --strict-decoding refuses instead (exit 1, nothing written).
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/match.h"
#include "etcd/etcd_testing.h"
#include "gtest/gtest.h"
#include "kube/codec.h"
#include "testing/process.h"

namespace lifeboat::recovery {
namespace {

namespace fs = std::filesystem;
using kube::Json;
using testing::LifeboatBinary;
using testing::ProcessResult;
using testing::RunProcess;

const fs::path kVersions = fs::path(LIFEBOAT_SOURCE_DIR) / "testdata/storage/versions";

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The etcd key a golden value is stored under (its textproto's `# etcdKey:` header).
std::string KeyOf(const fs::path& textproto) {
  std::string text = Slurp(textproto);
  size_t at = text.find("# etcdKey: ");
  if (at == std::string::npos) return "";
  at += 11;
  return text.substr(at, text.find('\n', at) - at);
}

std::pair<std::string, std::string> Golden(const std::string& dir, const std::string& name) {
  return {KeyOf(kVersions / dir / (name + ".textproto")),
          Slurp(kVersions / dir / (name + ".value"))};
}

class RecoverVersionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = etcd::testing::EtcdServer::Start();
    if (absl::IsFailedPrecondition(server.status())) GTEST_SKIP() << server.status();
    ASSERT_TRUE(server.ok()) << server.status();
    etcd_ = *std::move(server);
    dir_ = fs::path(etcd_->dir()) / "recover";
    fs::create_directories(dir_);
    // `recover` copies the kubeconfig to auth/kubeconfig; reading etcd, it never connects.
    fs::copy_file(fs::path(LIFEBOAT_SOURCE_DIR) / "testdata/demo/kubeconfig", dir_ / "kubeconfig");
    ASSERT_TRUE(etcd_
                    ->PutMany({Golden("v1.36", "secret"), Golden("v1.36", "configmap"),
                               Golden("v1.36", "daemonset"), Golden("v1.36", "deployment")})
                    .ok());
  }

  ProcessResult Recover(const fs::path& out, std::vector<std::string> flags) {
    std::vector<std::string> argv = {LifeboatBinary(), "recover",
                                     "--recovery-dir", out.string(),
                                     "--kubeconfig",   (dir_ / "kubeconfig").string()};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return RunProcess(argv);
  }

  std::vector<std::string> Live() { return {"--etcd-servers", etcd_->endpoint()}; }

  fs::path Snapshot(const std::string& name) {
    fs::path snap = dir_ / name;
    auto saved = etcd_->Etcdctl({"snapshot", "save", snap.string()});
    EXPECT_TRUE(saved.ok()) << saved.status();
    return snap;
  }

  // The bootstrap kube-apiserver pod `recover` wrote into `out`.
  Json BootstrapPod(const fs::path& out) {
    auto docs =
        kube::ParseDocuments(Slurp(out / "bootstrap-manifests/bootstrap-kube-apiserver.yaml"));
    EXPECT_TRUE(docs.ok() && docs->size() == 1) << docs.status();
    return docs.ok() && !docs->empty() ? (*docs)[0] : Json();
  }

  std::unique_ptr<etcd::testing::EtcdServer> etcd_;
  fs::path dir_;
};

// The pod template as the golden says the 1.36 API server serves it.
Json Template() {
  return Json::parse(Slurp(kVersions / "v1.36/daemonset.want.json"))["spec"]["template"]["spec"];
}

void ExpectNewFieldsRendered(const Json& pod) {
  const Json want = Template();
  const Json& spec = pod["spec"];
  // Unchanged by the static-pod rewrite: the sidecar (restartPolicy Always, resizePolicy), the
  // gRPC probes, preStop sleep, AppArmor, recursiveReadOnly, fileKeyRef, topology spread.
  Json sidecar = want["initContainers"][0];
  EXPECT_EQ(spec["initContainers"][0], sidecar);
  const Json& got = spec["containers"][0];
  const Json& c = want["containers"][0];
  for (const char* key : {"livenessProbe", "readinessProbe", "lifecycle", "securityContext", "env",
                          "volumeMounts", "resources", "image"}) {
    EXPECT_EQ(got[key], c[key]) << key;
  }
  EXPECT_EQ(spec["topologySpreadConstraints"], want["topologySpreadConstraints"]);
  EXPECT_EQ(spec["securityContext"]["appArmorProfile"], want["securityContext"]["appArmorProfile"]);
  // The image volume stays as it is (the kubelet pulls it; no API object involved); Secret and
  // ConfigMap volumes became files.
  bool image = false;
  for (const auto& v : spec["volumes"]) {
    if (v["name"] == "audit-policy") {
      image = true;
      EXPECT_EQ(v, want["volumes"][3]);
    }
    if (v["name"] == "secrets" || v["name"] == "config") {
      EXPECT_TRUE(v.contains("hostPath")) << v;
    }
  }
  EXPECT_TRUE(image);
}

TEST_F(RecoverVersionsTest, FieldsOfAv136ClusterReachTheBootstrapPods) {
  ProcessResult live = Recover(dir_ / "live", Live());
  ASSERT_EQ(live.exit_code, 0) << live.out << live.err;
  EXPECT_TRUE(live.err.find("dropped") == std::string::npos) << live.err;
  ExpectNewFieldsRendered(BootstrapPod(dir_ / "live"));
  EXPECT_EQ(Slurp(dir_ / "live/tls/secrets/kube-apiserver/apiserver.key"),
            std::string("\0\1\377binary key", 13));

  ProcessResult snap = Recover(dir_ / "snap", {"--etcd-snapshot", Snapshot("backup.db").string()});
  ASSERT_EQ(snap.exit_code, 0) << snap.out << snap.err;
  EXPECT_EQ(testing::ReadTree((dir_ / "snap").string()),
            testing::ReadTree((dir_ / "live").string()));
}

TEST_F(RecoverVersionsTest, AFieldNoReleaseHasIsDroppedWithAWarningOrRefusedWhenStrict) {
  ASSERT_TRUE(etcd_->PutMany({Golden("unknown", "daemonset")}).ok());
  fs::path snap = Snapshot("unknown.db");
  for (auto source : {Live(), std::vector<std::string>{"--etcd-snapshot", snap.string()}}) {
    std::string what = source[0];
    fs::path out = dir_ / ("out" + what);
    ProcessResult r = Recover(out, source);
    ASSERT_EQ(r.exit_code, 0) << what << "\n" << r.out << r.err;
    // One klog warning line ("W1130 12:00:00.000000 ...") naming the etcd key, the path and
    // the number, and saying the output lacks the field.
    size_t at = r.err.find("spec.template.spec.<field 9999>");
    ASSERT_NE(at, std::string::npos) << r.err;
    size_t bol = r.err.rfind('\n', at);
    bol = bol == std::string::npos ? 0 : bol + 1;
    std::string line = r.err.substr(bol, r.err.find('\n', at) - bol);
    EXPECT_EQ(line[0], 'W') << line;
    std::cout << what << ": " << line << "\n";
    for (const char* part :
         {"etcd key /registry/daemonsets/kube-system/kube-apiserver",
          "spec.template.spec.<field 9999>", "field 9999", "the output lacks it"}) {
      EXPECT_NE(line.find(part), std::string::npos) << what << ": " << part << "\n" << line;
    }
    // Everything else is rendered as without the field.
    ExpectNewFieldsRendered(BootstrapPod(out));

    fs::path strict_out = dir_ / ("strict" + what);
    source.push_back("--strict-decoding");
    ProcessResult strict = Recover(strict_out, source);
    EXPECT_EQ(strict.exit_code, 1) << what << "\n" << strict.out << strict.err;
    EXPECT_NE(strict.err.find("spec.template.spec.<field 9999>"), std::string::npos) << strict.err;
    EXPECT_NE(strict.err.find("--strict-decoding"), std::string::npos) << strict.err;
    EXPECT_FALSE(fs::exists(strict_out));
  }
}

TEST_F(RecoverVersionsTest, AnObjectNotRenderedNeverStopsIt) {
  // The cert-consumer Deployment (not the control plane) with a field no release has: not
  // rendered, so neither reported nor fatal, even with --strict-decoding.
  ASSERT_TRUE(etcd_->PutMany({Golden("unknown", "deployment")}).ok());
  ProcessResult r =
      Recover(dir_ / "strict", {"--etcd-servers", etcd_->endpoint(), "--strict-decoding"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.err.find("field 9999"), std::string::npos) << r.err;
  ExpectNewFieldsRendered(BootstrapPod(dir_ / "strict"));
}

}  // namespace
}  // namespace lifeboat::recovery
