#include "cli/duration.h"

#include "gtest/gtest.h"

namespace lifeboat::cli {
namespace {

TEST(DurationTest, GoStyle) {
  EXPECT_EQ(ParseDuration("90s")->count(), 90000);
  EXPECT_EQ(ParseDuration("20m")->count(), 1200000);
  EXPECT_EQ(ParseDuration("1h30m")->count(), 5400000);
  EXPECT_EQ(ParseDuration("500ms")->count(), 500);
  EXPECT_EQ(ParseDuration("1.5s")->count(), 1500);
  EXPECT_EQ(ParseDuration("0")->count(), 0);
  for (const char* bad : {"", "10", "m", "10x", "-5s", "1h 2m"}) {
    EXPECT_FALSE(ParseDuration(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace lifeboat::cli
