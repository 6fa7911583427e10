#include "checkpoint/store.h"

#include <filesystem>
#include <cstring>
#include <fstream>

#include "base/file.h"
#include "gtest/gtest.h"
#include "testing/faulty_file_ops.h"

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
    store_ = std::make_unique<Store>(layout_, ops_);
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
  // Files in `dir` whose names start with '.': temp files of interrupted writes.
  static std::vector<std::string> TempFiles(const fs::path& dir) {
    std::vector<std::string> out;
    for (fs::recursive_directory_iterator it(dir), end; it != end; ++it) {
      if (it->path().filename().string()[0] == '.') out.push_back(it->path().string());
    }
    return out;
  }
  static std::string Read(const fs::path& p) {
    auto text = base::ReadFile(p);
    return text.ok() ? *text : "<" + std::string(text.status().message()) + ">";
  }
  lifeboat::testing::FaultyFileOps ops_;
  fs::path root_;
  Layout layout_;
  std::unique_ptr<Store> store_;
};

using Op = lifeboat::testing::FaultyFileOps::Op;

// A full (ENOSPC) or failing (EIO) disk on write, fsync or rename of a checkpoint's manifest or
// of one of its Secret files: the write fails saying why, the previous checkpoint is there
// byte for byte, no temp file is left, and the next write after the disk recovers succeeds.
TEST_F(StoreTest, FaultsKeepThePreviousCheckpointWhole) {
  const PodId id{"kube-system", "a"};
  for (Op op : {Op::kWrite, Op::kFsync, Op::kRename}) {
    for (int err : {ENOSPC, EIO}) {
      for (std::string target : {"kube-system-a.json", "tls.key"}) {
        std::string where = "op " + std::to_string(static_cast<int>(op)) + " " + std::strerror(err) + " on " + target;
        Checkpoint v1 = Cp(id);
        v1.manifest = Manifest("kube-system", "a") + std::string(1000, ' ');
        ASSERT_TRUE(store_->Write(v1, false).ok()) << where;
        Checkpoint v2 = Cp(id);
        v2.manifest = Manifest("kube-system", "a") + std::string(5000, '\n');
        v2.files[0].data = "K2";
        ops_.FailNext(op, err, target);
        auto st = store_->Write(v2, false);
        ASSERT_FALSE(st.ok()) << where;
        EXPECT_NE(st.status().message().find(std::strerror(err)), absl::string_view::npos) << st.status();
        EXPECT_EQ(Read(layout_.InactiveManifest(id)), v1.manifest) << where;
        if (target == "tls.key") {
          EXPECT_EQ(Read(layout_.SecretsDir(id) / "tls/tls.key"), "K") << where;
        }
        EXPECT_TRUE(TempFiles(root_).empty()) << where << ": " << TempFiles(root_)[0];
        ops_.Clear();
        ASSERT_TRUE(store_->Write(v2, false).ok()) << where;
        EXPECT_EQ(Read(layout_.InactiveManifest(id)), v2.manifest) << where;
        EXPECT_EQ(Read(layout_.SecretsDir(id) / "tls/tls.key"), "K2") << where;
      }
    }
  }
  EXPECT_EQ(ops_.failures(), 12);
}

TEST_F(StoreTest, FailedActivationLeavesNoPartialManifestInTheKubeletsDir) {
  const PodId id{"kube-system", "a"};
  ASSERT_TRUE(store_->Write(Cp(id), false).ok());
  for (Op op : {Op::kWrite, Op::kFsync, Op::kRename}) {
    ops_.FailNext(op, ENOSPC, layout_.manifest_dir.string() + "/");
    EXPECT_FALSE(store_->Start(id).ok());
    EXPECT_FALSE(fs::exists(layout_.ActiveManifest(id)));
    EXPECT_TRUE(TempFiles(layout_.manifest_dir).empty());
  }
  ASSERT_TRUE(store_->Start(id).ok());
  EXPECT_EQ(Read(layout_.ActiveManifest(id)), Read(layout_.InactiveManifest(id)));
}

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
