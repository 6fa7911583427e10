#include "recovery/asset_dir.h"

#include <sys/stat.h>

#include <fstream>

#include "base/file.h"
#include "gtest/gtest.h"

namespace lifeboat::recovery {
namespace {
namespace fs = std::filesystem;

class AssetDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("lb-assets-test-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
    assets_.files["bootstrap-manifests/bootstrap-x.yaml"] = {"pod", 0600};
    assets_.files["tls/secrets/s/key"] = {"secret", 0600};
    assets_.dirs.push_back("tls/config-maps/empty");
  }
  void TearDown() override { fs::remove_all(root_); }
  mode_t Mode(const fs::path& p) {
    struct stat st;
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
  }
  int Entries(const fs::path& p) {
    int n = 0;
    for (auto& e : fs::directory_iterator(p)) n += e.exists();
    return n;
  }
  fs::path root_;
  AssetSet assets_;
};

TEST_F(AssetDirTest, WritesFilesAndDirsWithModes) {
  ASSERT_TRUE(WriteAssetDir(assets_, root_ / "rec").ok());
  EXPECT_EQ(*base::ReadFile(root_ / "rec/tls/secrets/s/key"), "secret");
  EXPECT_EQ(Mode(root_ / "rec/tls/secrets/s/key"), 0600u);
  EXPECT_EQ(Mode(root_ / "rec/tls/secrets/s"), 0700u);
  EXPECT_EQ(Mode(root_ / "rec"), 0700u);
  EXPECT_TRUE(fs::is_directory(root_ / "rec/tls/config-maps/empty"));
  EXPECT_EQ(Entries(root_), 1) << "no staging directory left behind";
}

TEST_F(AssetDirTest, ReplacesAPreviousRecoveryDirWhole) {
  ASSERT_TRUE(WriteAssetDir(assets_, root_ / "rec").ok());
  AssetSet next;
  next.files["bootstrap-manifests/bootstrap-y.yaml"] = {"pod2", 0600};
  ASSERT_TRUE(WriteAssetDir(next, root_ / "rec").ok());
  EXPECT_FALSE(fs::exists(root_ / "rec/bootstrap-manifests/bootstrap-x.yaml"));
  EXPECT_TRUE(fs::exists(root_ / "rec/bootstrap-manifests/bootstrap-y.yaml"));
  EXPECT_EQ(Entries(root_), 1);
}

TEST_F(AssetDirTest, RefusesADirWithForeignContent) {
  fs::create_directories(root_ / "home");
  std::ofstream(root_ / "home" / "important.txt") << "keep me";
  auto st = WriteAssetDir(assets_, root_ / "home");
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_TRUE(fs::exists(root_ / "home" / "important.txt"));
  EXPECT_EQ(Entries(root_), 1);
}

TEST_F(AssetDirTest, UnwritableParentFailsAndLeavesNothing) {
  // Even root cannot create directories in /proc.
  auto st = WriteAssetDir(assets_, "/proc/lifeboat-recovery");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("/proc"), absl::string_view::npos) << st;
  EXPECT_FALSE(fs::exists("/proc/lifeboat-recovery"));
}

TEST_F(AssetDirTest, AFileInTheWayIsRefused) {
  std::ofstream(root_ / "file") << "x";
  EXPECT_EQ(WriteAssetDir(assets_, root_ / "file").code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace lifeboat::recovery
