#include "cli/go_flags.h"

#include "gtest/gtest.h"

namespace lifeboat::cli {
namespace {

using Args = std::vector<std::string>;
const std::set<std::string> kNames = {"lock-file", "kubeconfig", "logtostderr", "v", "help"};

TEST(GoFlagsTest, OneDashLongFlagsBecomeTwo) {
  EXPECT_EQ(GoFlagsToCli11({"-lock-file=/l", "-kubeconfig", "/k", "-logtostderr", "-help"}, kNames),
            (Args{"--lock-file=/l", "--kubeconfig", "/k", "--logtostderr", "--help"}));
}

TEST(GoFlagsTest, GlogVerbosityTakesAValue) {
  EXPECT_EQ(GoFlagsToCli11({"-v=3"}, kNames), (Args{"--v=3"}));
  EXPECT_EQ(GoFlagsToCli11({"-v", "4"}, kNames), (Args{"--v=4"}));
  EXPECT_EQ(GoFlagsToCli11({"--v", "2"}, kNames), (Args{"--v=2"}));
  // Lifeboat's own counted -v stays as it is.
  EXPECT_EQ(GoFlagsToCli11({"-v", "-vv", "--v=1"}, kNames), (Args{"-v", "-vv", "--v=1"}));
}

TEST(GoFlagsTest, LeavesEverythingElseToTheParser) {
  // Unknown names, short flags, two-dash flags, values, and whatever follows `--`.
  Args same = {"-lock-fil=/x", "-x", "--kubeconfig=/k", "/path", "-", "--", "-lock-file=/y",
               "-v",           "5"};
  EXPECT_EQ(GoFlagsToCli11(same, kNames), same);
}

}  // namespace
}  // namespace lifeboat::cli
