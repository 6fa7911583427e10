// bench/run.sh's settings are checked before it builds or starts anything: these cases end there
// (BENCH_BUILD names no build, so a case that got further would stop at the missing binaries).
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "testing/process.h"

namespace lifeboat {
namespace {

using lifeboat::testing::ProcessResult;
using lifeboat::testing::RunProcess;

ProcessResult Bench(const std::vector<std::string>& settings) {
  std::vector<std::string> argv = {"env", "-u", "BENCH_SIZES", "-u", "BENCH_SNAPSHOT_SIZES",
                                   "BENCH_NO_BUILD=1", "BENCH_BUILD=/nonexistent/lifeboat-build"};
  argv.insert(argv.end(), settings.begin(), settings.end());
  argv.insert(argv.end(), {"bash", std::string(LIFEBOAT_SOURCE_DIR) + "/bench/run.sh"});
  return RunProcess(argv);
}

TEST(BenchRunTest, EmptySizesAreRefusedSayingWhy) {
  for (const auto& settings : std::vector<std::vector<std::string>>{
           {"BENCH_SIZES="}, {"BENCH_SIZES=  "}, {"BENCH_SIZES=", "BENCH_SNAPSHOT_SIZES="}}) {
    ProcessResult r = Bench(settings);
    EXPECT_EQ(r.exit_code, 2) << settings[0] << ": " << r.err;
    EXPECT_NE(r.err.find("nothing to measure: BENCH_SIZES is empty"), std::string::npos) << r.err;
  }
}

TEST(BenchRunTest, EmptySizesWithSnapshotSizesSaySoAndGoOn) {
  ProcessResult r = Bench({"BENCH_SIZES=", "BENCH_SNAPSHOT_SIZES=1000"});
  EXPECT_NE(r.err.find("skipping the recover and doctor benchmarks; snapshot benchmark at 1000"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("nothing to measure"), std::string::npos) << r.err;
}

TEST(BenchRunTest, BadCountsAreRefused) {
  ProcessResult r = Bench({"BENCH_SIZES=1000 ten"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("bad object count 'ten'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace lifeboat
