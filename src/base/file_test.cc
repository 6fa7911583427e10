#include "base/file.h"

#include <sys/stat.h>

#include <filesystem>

#include "gtest/gtest.h"

namespace lifeboat::base {
namespace {
namespace fs = std::filesystem;

class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lb-file-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  mode_t ModeOf(const fs::path& p) {
    struct stat st;
    EXPECT_EQ(::stat(p.c_str(), &st), 0);
    return st.st_mode & 07777;
  }
  fs::path dir_;
};

TEST_F(FileTest, WriteAtomicSetsExactModeDespiteUmask) {
  mode_t old = ::umask(0077);
  ASSERT_TRUE(WriteFileAtomic(dir_ / "a", "hello", 0644).ok());
  ::umask(old);
  EXPECT_EQ(ModeOf(dir_ / "a"), 0644u);
  EXPECT_EQ(*ReadFile(dir_ / "a"), "hello");
}

TEST_F(FileTest, WriteAtomicReplacesAndLeavesNoTempFiles) {
  ASSERT_TRUE(WriteFileAtomic(dir_ / "a", "one", 0600).ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ / "a", "two", 0600).ok());
  EXPECT_EQ(*ReadFile(dir_ / "a"), "two");
  int entries = 0;
  for (auto& e : fs::directory_iterator(dir_)) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1);
}

TEST_F(FileTest, WriteAtomicIntoMissingDirFailsCleanly) {
  auto st = WriteFileAtomic(dir_ / "missing" / "a", "x", 0600);
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound) << st;
}

TEST_F(FileTest, WriteAtomicWhereNoFileCanBeCreatedFails) {
  // Even root cannot create files in /proc: the write fails and says where.
  auto st = WriteFileAtomic("/proc/lifeboat-test-file", "x", 0600);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("/proc/lifeboat-test-file"), absl::string_view::npos) << st;
  EXPECT_FALSE(std::filesystem::exists("/proc/lifeboat-test-file"));
}

TEST_F(FileTest, MakeDirsCreatesParentsWithMode) {
  ASSERT_TRUE(MakeDirs(dir_ / "x" / "y" / "z", 0700).ok());
  EXPECT_EQ(ModeOf(dir_ / "x" / "y" / "z"), 0700u);
  EXPECT_EQ(ModeOf(dir_ / "x"), 0700u);
}

TEST_F(FileTest, MakeDirsRefusesFileInTheWay) {
  ASSERT_TRUE(WriteFileAtomic(dir_ / "f", "", 0600).ok());
  EXPECT_FALSE(MakeDirs(dir_ / "f" / "g", 0700).ok());
}

TEST_F(FileTest, RemoveStaleTempFilesKeepsRealFiles) {
  ASSERT_TRUE(WriteFileAtomic(dir_ / "keep.json", "{}", 0600).ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ / (std::string(kTempPrefix) + "-x"), "partial", 0600).ok());
  ASSERT_TRUE(RemoveStaleTempFiles(dir_).ok());
  EXPECT_TRUE(fs::exists(dir_ / "keep.json"));
  EXPECT_FALSE(fs::exists(dir_ / (std::string(kTempPrefix) + "-x")));
}

TEST_F(FileTest, RemoveFileMissingIsOk) { EXPECT_TRUE(RemoveFile(dir_ / "nope").ok()); }

}  // namespace
}  // namespace lifeboat::base

namespace lifeboat::base {
namespace {

TEST(FileNoReplaceTest, NeverOverwrites) {
  auto dir = std::filesystem::temp_directory_path() / ("lb-noreplace-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(WriteFileAtomicNoReplace(dir / "m.yaml", "first", 0600).ok());
  auto st = WriteFileAtomicNoReplace(dir / "m.yaml", "second", 0600);
  EXPECT_EQ(st.code(), absl::StatusCode::kAlreadyExists) << st;
  EXPECT_EQ(*ReadFile(dir / "m.yaml"), "first");
  int entries = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) entries += e.exists();
  EXPECT_EQ(entries, 1) << "no temp file left";
  std::filesystem::remove_all(dir);
}

TEST(FileCopyTreeTest, CopiesModesAndNesting) {
  auto dir = std::filesystem::temp_directory_path() / ("lb-copytree-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(MakeDirs(dir / "src/a/b", 0700).ok());
  ASSERT_TRUE(WriteFileAtomic(dir / "src/a/b/key", "k", 0400).ok());
  ASSERT_TRUE(CopyTree(dir / "src", dir / "dst").ok());
  struct stat st;
  ASSERT_EQ(::stat((dir / "dst/a/b/key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0400u);
  ASSERT_EQ(::stat((dir / "dst/a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(*ReadFile(dir / "dst/a/b/key"), "k");
  EXPECT_FALSE(CopyTree(dir / "src", dir / "dst").ok()) << "target must not exist";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace lifeboat::base
