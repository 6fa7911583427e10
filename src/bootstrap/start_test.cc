// `start` on an asset dir shaped as bootkube v0.14 renders it (testdata/bootkube): the kubeconfig
// with an unnamed context and no current-context is accepted, tls/ (with its etcd/ subdirectory)
// and auth/kubeconfig become the bootstrap secrets, bootstrap-manifests/ become static pods, and
// everything is removed again when the run stops. No API server answers (the kubeconfig points
// at 127.0.0.1:1), so the run is cancelled while it waits for one.
#include "bootstrap/start.h"

#include <atomic>
#include <filesystem>
#include <map>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "bootstrap/manifests.h"
#include "gtest/gtest.h"
#include "testing/process.h"

namespace lifeboat::bootstrap {
namespace {
namespace fs = std::filesystem;
using lifeboat::testing::ReadTree;

const fs::path kAssets = fs::path(LIFEBOAT_SOURCE_DIR) / "testdata/bootkube/assets";

TEST(StartBootkubeAssets, PlacesAndRemovesTheBootstrapControlPlane) {
  fs::path tmp = fs::temp_directory_path() / absl::StrCat("lb-start-test-", ::getpid());
  fs::remove_all(tmp);
  fs::create_directories(tmp / "kubelet-manifests");
  fs::copy(kAssets, tmp / "assets", fs::copy_options::recursive);

  StartOptions o;
  o.asset_dir = tmp / "assets";
  o.pod_manifest_path = tmp / "kubelet-manifests";
  o.bootstrap_secrets_dir = tmp / "etc" / "bootstrap-secrets";
  o.poll_interval = std::chrono::milliseconds(20);

  // Snapshot what `start` placed once every bootstrap manifest is there, then stop the run.
  std::atomic<bool> cancelled{false}, done{false};
  std::map<std::string, std::string> secrets, placed;
  std::thread watcher([&] {
    for (int i = 0; i < 6000 && !done; ++i) {  // up to 10 minutes on a loaded machine
      if (ReadTree(o.pod_manifest_path.string()).size() == 3) {
        secrets = ReadTree(o.bootstrap_secrets_dir.string());
        placed = ReadTree(o.pod_manifest_path.string());
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    cancelled = true;
  });
  std::ostringstream out;  // read only after Start returns
  absl::Status st = Start(o, out, cancelled);
  done = true;
  watcher.join();
  std::string text = out.str();

  EXPECT_TRUE(absl::IsCancelled(st)) << st << "\n" << text;
  EXPECT_NE(text.find("Waiting for the API server at https://127.0.0.1:1"), std::string::npos)
      << text;

  // tls/ (etcd/ included) and auth/kubeconfig as bootkube's start copies them.
  std::map<std::string, std::string> want = ReadTree((kAssets / "tls").string());
  ASSERT_TRUE(want.count("etcd/server-ca.crt")) << "the testdata has bootkube's tls/etcd/";
  for (const auto& [rel, mode_and_data] : want) {
    ASSERT_TRUE(secrets.count(rel)) << rel << " not copied; output:\n" << text;
    EXPECT_EQ(secrets[rel].substr(secrets[rel].find(':')),
              mode_and_data.substr(mode_and_data.find(':')))
        << rel;
  }
  ASSERT_TRUE(secrets.count("kubeconfig"));
  EXPECT_EQ(secrets["kubeconfig"],
            "0600:" + lifeboat::testing::ReadFile((kAssets / "auth/kubeconfig").string()));
  EXPECT_EQ(secrets.size(), want.size() + 1);

  for (const char* m : {"bootstrap-apiserver.yaml", "bootstrap-controller-manager.yaml",
                        "bootstrap-scheduler.yaml"}) {
    ASSERT_TRUE(placed.count(m)) << m;
    EXPECT_EQ(placed[m],
              "0600:" + lifeboat::testing::ReadFile((kAssets / "bootstrap-manifests" / m).string()))
        << m;
  }

  // Torn down.
  EXPECT_TRUE(ReadTree(o.pod_manifest_path.string()).empty());
  EXPECT_FALSE(fs::exists(o.bootstrap_secrets_dir));
  fs::remove_all(tmp);
}

// What `start` creates from manifests/ after the pivot: bootkube's checkpointer DaemonSet and the
// ConfigMap holding its kubeconfig are read as they are rendered.
TEST(StartBootkubeAssets, ManifestsParse) {
  auto set = LoadManifests(kAssets / "manifests");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_TRUE(set->errors.empty()) << set->errors.front();
  std::vector<std::string> seen;
  for (const auto& m : set->manifests) seen.push_back(m.Describe());
  EXPECT_EQ(seen,
            (std::vector<std::string>{
                "ConfigMap kube-system/kubeconfig-in-cluster (from kubeconfig-in-cluster.yaml)",
                "DaemonSet kube-system/pod-checkpointer (from pod-checkpointer.yaml)"}));
}

}  // namespace
}  // namespace lifeboat::bootstrap
