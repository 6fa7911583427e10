#include "checkpoint/store.h"

#include <filesystem>
#include <fstream>

#include "base/file.h"
#include "gtest/gtest.h"

namespace lifeboat::checkpoint {
namespace {

namespace fs = std::filesystem;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lifeboat-store-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    layout_ = Layout{root_ / "i", root_ / "m", root_ / "s", root_ / "c"};
    store_ = std::make_unique<Store>(layout_);
    ASSERT_TRUE(store_->Init().ok());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  void Put(const fs::path& p, const std::string& text) { ASSERT_TRUE(base::WriteFileAtomic(p, text, 0600).ok()); }
  static std::string Manifest(const std::string& ns, const std::string& name) {
    return Json{{"metadata", {{"name", name}, {"namespace", ns},
                              {"annotations", {{"checkpointer.alpha.coreos.com/checkpoint-of", name}}}}}}.dump();
  }
  Checkpoint Cp(const PodId& id) {
    Checkpoint cp;
    cp.id = id;
    cp.manifest = Manifest(id.ns, id.name);
    std::string vol = (layout_.SecretsDir(id) / "tls").string();
    cp.dirs = {vol};
    cp.files = {{vol + "/tls.key", "K", 0400}, {vol + "/sub/ca.crt", "C", 0600}};
    return cp;
  }
  fs::path root_;
  Layout layout_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, ScanFindsCheckpointsOnly) {
  Put(layout_.inactive_dir / "kube-system-a.json", Manifest("kube-system", "a"));
  Put(layout_.inactive_dir / "kube-system-b.json", Manifest("kube-system", "b"));
  Put(layout_.manifest_dir / "kube-system-b.json", Manifest("kube-system", "b"));
  Put(layout_.manifest_dir / "etcd.json", R"({"metadata": {"name": "etcd"}})");     // a static pod, not ours
  Put(layout_.manifest_dir / "other.yaml", "kind: Pod");
  Put(layout_.inactive_dir / "wrong-name.json", Manifest("kube-system", "c"));      // misnamed
  Put(layout_.inactive_dir / "broken.json", "{");
  Put(layout_.inactive_dir / ".lifeboat-tmp-x", Manifest("kube-system", "d"));
  Store::Scan scan = store_->ScanDisk();
  EXPECT_EQ(scan.inactive, (std::set<PodId>{{"kube-system", "a"}, {"kube-system", "b"}}));
  EXPECT_EQ(scan.active, (std::set<PodId>{{"kube-system", "b"}}));
  EXPECT_EQ(scan.problems.size(), 2u);
  // Cached: the same answer without re-reading; a change is noticed.
  EXPECT_EQ(store_->ScanDisk().inactive.size(), 2u);
  fs::remove(layout_.inactive_dir / "kube-system-a.json");
  EXPECT_EQ(store_->ScanDisk().inactive, (std::set<PodId>{{"kube-system", "b"}}));
}

TEST_F(StoreTest, WriteStartStopRemove) {
  PodId id{"kube-system", "a"};
  auto changed = store_->Write(Cp(id), false);
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_TRUE(*changed);
  changed = store_->Write(Cp(id), false);
  ASSERT_TRUE(changed.ok());
  EXPECT_FALSE(*changed) << "nothing rewritten when nothing changed";
  EXPECT_TRUE(fs::exists(layout_.SecretsDir(id) / "tls/sub/ca.crt"));
  EXPECT_EQ(fs::status(layout_.SecretsDir(id) / "tls/sub").permissions(), fs::perms::owner_all);

  EXPECT_FALSE(store_->Start(PodId{"kube-system", "none"}).ok());
  ASSERT_TRUE(store_->Start(id).ok());
  EXPECT_TRUE(fs::exists(layout_.ActiveManifest(id)));
  auto stopped = store_->Stop(id);
  ASSERT_TRUE(stopped.ok());
  EXPECT_TRUE(*stopped);
  EXPECT_FALSE(fs::exists(layout_.ActiveManifest(id)));
  stopped = store_->Stop(id);
  ASSERT_TRUE(stopped.ok()) << "stopping twice is fine";
  EXPECT_FALSE(*stopped);
  ASSERT_TRUE(store_->Start(id).ok());
  ASSERT_TRUE(store_->Remove(id).ok());
  EXPECT_FALSE(fs::exists(layout_.ActiveManifest(id)));
  EXPECT_FALSE(fs::exists(layout_.InactiveManifest(id)));
  EXPECT_FALSE(fs::exists(layout_.SecretsDir(id)));
}

TEST_F(StoreTest, InitRemovesTempFilesEverywhere) {
  fs::create_directories(layout_.secrets_root / "kube-system/a/tls");
  Put(layout_.secrets_root / "kube-system/a/tls/.lifeboat-tmp-key-1", "x");
  Put(layout_.inactive_dir / ".lifeboat-tmp-kube-system-a.json-2", "x");
  Put(layout_.manifest_dir / ".lifeboat-tmp-kube-system-a.json-3", "x");
  ASSERT_TRUE(store_->Init().ok());
  EXPECT_FALSE(fs::exists(layout_.secrets_root / "kube-system/a/tls/.lifeboat-tmp-key-1"));
  EXPECT_TRUE(fs::is_empty(layout_.inactive_dir));
  EXPECT_TRUE(fs::is_empty(layout_.manifest_dir));
}

}  // namespace
}  // namespace lifeboat::checkpoint
