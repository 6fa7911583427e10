#include "recovery/render.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/escaping.h"
#include "base/file.h"
#include "gtest/gtest.h"
#include "kube/static_pod.h"

namespace lifeboat::recovery {
namespace {
namespace fs = std::filesystem;

// Golden files: testdata/recovery/<case>/objects.yaml holds the cluster's kube-system objects
// as the API server serves them; expected/ holds the recovery dir Render must produce
// (modes in expected/MODES). LIFEBOAT_UPDATE_GOLDEN=1 rewrites expected/.
ClusterObjects Load(const fs::path& file) {
  auto text = base::ReadFile(file);
  EXPECT_TRUE(text.ok()) << text.status();
  auto docs = kube::ParseDocuments(*text);
  EXPECT_TRUE(docs.ok()) << docs.status();
  ClusterObjects objects;
  for (auto& d : *docs) {
    std::vector<Json> items = d.value("kind", "") == "List" ? d["items"].get<std::vector<Json>>()
                                                            : std::vector<Json>{d};
    for (auto& o : items) {
      std::string kind = o.value("kind", "");
      if (o.contains("stringData")) {  // as the API server would store it
        for (auto& [k, v] : o["stringData"].items()) o["data"][k] = absl::Base64Escape(v.get<std::string>());
        o.erase("stringData");
      }
      if (kind == "Secret") objects.secrets[o["metadata"]["name"]] = o;
      if (kind == "ConfigMap") objects.config_maps[o["metadata"]["name"]] = o;
      if (kind == "DaemonSet" || kind == "Deployment") objects.workloads.push_back(o);
    }
  }
  return objects;
}

void CheckGolden(const std::string& name) {
  fs::path dir = fs::path(LIFEBOAT_SOURCE_DIR) / "testdata" / "recovery" / name;
  ClusterObjects objects = Load(dir / "objects.yaml");
  auto assets = Render(objects, "KUBECONFIG-CONTENT\n");
  ASSERT_TRUE(assets.ok()) << assets.status();
  fs::path expected = dir / "expected";
  std::string modes;
  for (const auto& [rel, f] : assets->files) {
    char m[8];
    snprintf(m, sizeof m, "%04o", f.mode);
    modes += std::string(m) + " " + rel + "\n";
  }
  if (std::getenv("LIFEBOAT_UPDATE_GOLDEN")) {
    fs::remove_all(expected);
    for (const auto& [rel, f] : assets->files) {
      fs::create_directories((expected / rel).parent_path());
      std::ofstream(expected / rel, std::ios::binary) << f.data;
    }
    std::ofstream(expected / "MODES") << modes;
    GTEST_SKIP() << "golden files rewritten";
  }
  auto want_modes = base::ReadFile(expected / "MODES");
  ASSERT_TRUE(want_modes.ok()) << want_modes.status() << " (LIFEBOAT_UPDATE_GOLDEN=1 writes it)";
  EXPECT_EQ(*want_modes, modes);
  for (const auto& [rel, f] : assets->files) {
    auto want = base::ReadFile(expected / rel);
    ASSERT_TRUE(want.ok()) << "unexpected file " << rel;
    EXPECT_EQ(f.data, *want) << rel;
  }
}

TEST(RenderTest, GoldenSelfHostedControlPlane) { CheckGolden("self-hosted"); }

TEST(RenderTest, BootstrapPodsFollowTheRecoveryRules) {
  ClusterObjects objects = Load(fs::path(LIFEBOAT_SOURCE_DIR) / "testdata/recovery/self-hosted/objects.yaml");
  auto assets = Render(objects, "kc");
  ASSERT_TRUE(assets.ok()) << assets.status();
  int pods = 0;
  for (const auto& [rel, f] : assets->files) {
    if (rel.rfind("bootstrap-manifests/", 0) != 0) continue;
    ++pods;
    auto docs = kube::ParseDocuments(f.data);
    ASSERT_TRUE(docs.ok());
    const Json& pod = docs->front();
    std::string name = pod["metadata"]["name"];
    EXPECT_EQ(rel, "bootstrap-manifests/" + name + ".yaml");
    EXPECT_EQ(name.rfind("bootstrap-", 0), 0u);
    const Json& spec = pod["spec"];
    EXPECT_EQ(spec["hostNetwork"], true) << name;
    EXPECT_TRUE(kube::ApiObjectReferences(spec).empty()) << name;
    EXPECT_FALSE(spec.value("securityContext", Json::object()).contains("runAsNonRoot")) << name;
    bool has_kubeconfig_volume = false;
    for (auto& v : spec["volumes"]) {
      if (v["name"] == "kubeconfig") {
        has_kubeconfig_volume = v["hostPath"]["path"] == "/etc/kubernetes";
      }
    }
    EXPECT_TRUE(has_kubeconfig_volume) << name;
    for (auto& c : spec["containers"]) {
      EXPECT_FALSE(c.value("securityContext", Json::object()).contains("runAsUser")) << name;
      EXPECT_FALSE(c.contains("ports")) << name << ": host ports would block the self-hosted pods";
      std::string cmd = c.value("command", Json::array()).dump() + c.value("args", Json::array()).dump();
      bool wants = name != "bootstrap-kube-apiserver";
      EXPECT_EQ(cmd.find("--kubeconfig=/kubeconfig/kubeconfig") != std::string::npos, wants) << name;
    }
  }
  EXPECT_EQ(pods, 3);
  EXPECT_EQ(assets->files.at("auth/kubeconfig").mode, 0600u);
}

TEST(RenderTest, MissingObjectsAreAllNamed) {
  ClusterObjects objects = Load(fs::path(LIFEBOAT_SOURCE_DIR) / "testdata/recovery/self-hosted/objects.yaml");
  objects.secrets.erase("kube-apiserver");
  objects.config_maps.erase("kube-scheduler-config");
  auto assets = Render(objects, "kc");
  ASSERT_EQ(assets.status().code(), absl::StatusCode::kNotFound);
  std::string msg(assets.status().message());
  EXPECT_NE(msg.find("Secret kube-system/kube-apiserver"), std::string::npos) << msg;
  EXPECT_NE(msg.find("ConfigMap kube-system/kube-scheduler-config"), std::string::npos) << msg;
}

TEST(RenderTest, NoControlPlaneIsAClearError) {
  ClusterObjects objects;
  objects.workloads.push_back(Json::parse(
      R"({"kind": "Deployment", "metadata": {"name": "coredns", "labels": {"k8s-app": "kube-dns"}},
          "spec": {"template": {"spec": {"containers": []}}}})"));
  auto assets = Render(objects, "kc");
  EXPECT_EQ(assets.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(assets.status().message().find("in namespace kube-system "), absl::string_view::npos)
      << assets.status();

  // It names the namespace that was searched, not always kube-system.
  objects.ns = "control-plane";
  assets = Render(objects, "kc");
  EXPECT_EQ(assets.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(assets.status().message().find("in namespace control-plane "), absl::string_view::npos)
      << assets.status();
  EXPECT_EQ(assets.status().message().find("kube-system"), absl::string_view::npos) << assets.status();
}

TEST(RenderTest, MalformedObjectsAreRefusedNotCrashed) {
  ClusterObjects objects;
  objects.workloads.push_back(Json::parse(
      R"({"kind": "Deployment", "metadata": {"name": "kube-scheduler", "labels": {"k8s-app": "kube-scheduler"}},
          "spec": {"template": {"spec": {"containers": [{"name": "c", "command": "not-a-list"}]}}}})"));
  auto assets = Render(objects, "kc");
  EXPECT_FALSE(assets.ok());
}

// What a v1.36 API server serves (testdata/storage/versions/v1.36/*.want.json).
Json Served136(const std::string& name) {
  auto text = base::ReadFile(fs::path(LIFEBOAT_SOURCE_DIR) / "testdata/storage/versions/v1.36" /
                             (name + ".want.json"));
  EXPECT_TRUE(text.ok()) << text.status();
  return Json::parse(text.ok() ? *text : "null");
}

TEST(RenderTest, FieldsOfAv136ApiServerPassThroughUnchanged) {
  ClusterObjects objects;
  objects.workloads.push_back(Served136("daemonset"));
  objects.secrets["kube-apiserver"] = Served136("secret");
  objects.config_maps["kube-apiserver-config"] = Served136("configmap");
  auto assets = Render(objects, "kc");
  ASSERT_TRUE(assets.ok()) << assets.status();
  auto docs = kube::ParseDocuments(assets->files.at("bootstrap-manifests/bootstrap-kube-apiserver.yaml").data);
  ASSERT_TRUE(docs.ok()) << docs.status();
  const Json& spec = (*docs)[0]["spec"];
  const Json want = Served136("daemonset")["spec"]["template"]["spec"];
  EXPECT_EQ(spec["initContainers"], want["initContainers"]);  // the sidecar, restartPolicy Always
  for (const char* key : {"livenessProbe", "readinessProbe", "lifecycle", "securityContext", "env",
                          "volumeMounts"}) {
    EXPECT_EQ(spec["containers"][0][key], want["containers"][0][key]) << key;
  }
  EXPECT_EQ(spec["topologySpreadConstraints"], want["topologySpreadConstraints"]);
  EXPECT_EQ(spec["securityContext"]["appArmorProfile"], want["securityContext"]["appArmorProfile"]);
  EXPECT_EQ(spec["volumes"][3], want["volumes"][3]);  // the image volume
  EXPECT_TRUE(kube::ApiObjectReferences(spec).empty());
}

TEST(RenderTest, ProjectionsOnlyTheApiServerCanFillAreRefusedNamingPodAndVolume) {
  // A control-plane Deployment with clusterTrustBundle and podCertificate projections.
  Json d = Served136("deployment");
  d["metadata"]["labels"]["k8s-app"] = "kube-scheduler";
  ClusterObjects objects;
  objects.workloads.push_back(d);
  auto assets = Render(objects, "kc");
  ASSERT_EQ(assets.status().code(), absl::StatusCode::kFailedPrecondition) << assets.status();
  std::string msg(assets.status().message());
  EXPECT_NE(msg.find("Deployment kube-system/cert-consumer"), std::string::npos) << msg;
  EXPECT_NE(msg.find("volume \"certs\" projects a clusterTrustBundle"), std::string::npos) << msg;
}

TEST(RenderTest, SelectsByK8sAppOrComponentLabel) {
  EXPECT_TRUE(IsControlPlane(Json::parse(R"({"metadata": {"labels": {"k8s-app": "kube-apiserver"}}})")));
  EXPECT_TRUE(IsControlPlane(Json::parse(R"({"metadata": {"labels": {"component": "kube-scheduler"}}})")));
  EXPECT_FALSE(IsControlPlane(Json::parse(R"({"metadata": {"labels": {"k8s-app": "kube-proxy"}}})")));
  EXPECT_FALSE(IsControlPlane(Json::parse(R"({"metadata": {"labels": {"app": "kube-apiserver"}}})")));
}

}  // namespace
}  // namespace lifeboat::recovery
