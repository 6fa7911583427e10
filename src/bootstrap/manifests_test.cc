#include "bootstrap/manifests.h"

#include <fstream>

#include "gtest/gtest.h"

namespace lifeboat::bootstrap {
namespace {
namespace fs = std::filesystem;

class ManifestsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lb-manifests-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }
  fs::path dir_;
};

TEST_F(ManifestsTest, ReadsYamlJsonMultiDocAndListsInFileOrder) {
  Write("20-b.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n---\n"
                     "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Secret, metadata: {name: c}}\n");
  Write("10-a.json", R"({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"}})");
  Write(".hidden.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: hidden}\n");
  Write("README.md", "not a manifest");
  auto set = LoadManifests(dir_);
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_EQ(set->manifests.size(), 3u);
  EXPECT_EQ(set->manifests[0].object["metadata"]["name"], "a");
  EXPECT_EQ(set->manifests[1].object["metadata"]["name"], "b");
  EXPECT_EQ(set->manifests[2].object["metadata"]["name"], "c");
  EXPECT_EQ(set->manifests[2].file, "20-b.yaml");
  EXPECT_TRUE(set->errors.empty());
}

TEST_F(ManifestsTest, BrokenFilesAndObjectsAreReportedWithTheirFile) {
  Write("10-ok.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n");
  Write("20-broken.yaml", "apiVersion: v1\nkind: [oops\n");
  Write("30-noname.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n");
  auto set = LoadManifests(dir_);
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->manifests.size(), 1u);
  ASSERT_EQ(set->errors.size(), 2u);
  EXPECT_EQ(set->errors[0].rfind("20-broken.yaml: invalid YAML", 0), 0u) << set->errors[0];
  EXPECT_EQ(set->errors[1].rfind("30-noname.yaml document 1", 0), 0u) << set->errors[1];
}

TEST_F(ManifestsTest, MissingDirIsNotFound) {
  EXPECT_EQ(LoadManifests(dir_ / "nope").status().code(), absl::StatusCode::kNotFound);
}

TEST(CreationOrderTest, NamespacesThenCrdsThenRestInFileOrder) {
  auto m = [](const std::string& kind, const std::string& name) {
    return Manifest{"f", 0, {{"apiVersion", "v1"}, {"kind", kind}, {"metadata", {{"name", name}}}}};
  };
  auto ordered = CreationOrder({m("Deployment", "d1"), m("CustomResourceDefinition", "crd"),
                                m("Widget", "w"), m("Namespace", "ns"), m("Secret", "s")});
  std::vector<std::string> names;
  for (auto& x : ordered) names.push_back(x.object["metadata"]["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"ns", "crd", "d1", "w", "s"}));
}

TEST(ManifestDescribeTest, NamesKindNamespaceAndFile) {
  Manifest m{"30-controllers.yaml", 1,
             {{"kind", "Deployment"}, {"metadata", {{"name", "kube-scheduler"}, {"namespace", "kube-system"}}}}};
  EXPECT_EQ(m.Describe(), "Deployment kube-system/kube-scheduler (from 30-controllers.yaml document 2)");
}

}  // namespace
}  // namespace lifeboat::bootstrap
