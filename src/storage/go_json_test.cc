#include "storage/go_json.h"

#include <cstdint>
#include <limits>

#include "gtest/gtest.h"

namespace lifeboat::storage::internal {
namespace {

TEST(GoStringTest, KeepsValidUtf8) {
  EXPECT_EQ(GoString("plain"), "plain");
  EXPECT_EQ(GoString("unicode \xe2\x9c\x93 \xf0\x9f\x9a\x80"), "unicode \xe2\x9c\x93 \xf0\x9f\x9a\x80");
  EXPECT_EQ(GoString(std::string("a\0b", 3)), std::string("a\0b", 3));
}

TEST(GoStringTest, ReplacesEachInvalidByteLikeGo) {
  const std::string kFffd = "\xef\xbf\xbd";
  EXPECT_EQ(GoString("\xff"), kFffd);
  EXPECT_EQ(GoString("a\xc3"), "a" + kFffd);                   // truncated sequence
  EXPECT_EQ(GoString("\xc0\x80"), kFffd + kFffd);              // overlong NUL
  EXPECT_EQ(GoString("\xed\xa0\x80"), kFffd + kFffd + kFffd);  // UTF-16 surrogate
  EXPECT_EQ(GoString("\xf4\x90\x80\x80"), kFffd + kFffd + kFffd + kFffd);  // > U+10FFFF
}

TEST(FormatTimeTest, Rfc3339UtcSeconds) {
  EXPECT_EQ(FormatTime(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatTime(1609556645), "2021-01-02T03:04:05Z");
  EXPECT_EQ(FormatTime(951782400), "2000-02-29T00:00:00Z");
  EXPECT_EQ(FormatTime(-1), "1969-12-31T23:59:59Z");
  EXPECT_EQ(FormatTime(kGoZeroTimeUnix + 1), "0001-01-01T00:00:01Z");
  EXPECT_EQ(FormatTime(253402300800), "10000-01-01T00:00:00Z");
  // Extremes render without overflow (Go prints something for these too).
  EXPECT_FALSE(FormatTime(std::numeric_limits<int64_t>::max()).empty());
  EXPECT_FALSE(FormatTime(std::numeric_limits<int64_t>::min()).empty());
}

TEST(FormatMicroTimeTest, SixDigitsTruncated) {
  EXPECT_EQ(FormatMicroTime(1609556645, 123456789), "2021-01-02T03:04:05.123456Z");
  EXPECT_EQ(FormatMicroTime(1609556645, 0), "2021-01-02T03:04:05.000000Z");
  EXPECT_EQ(FormatMicroTime(0, -1000), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(FormatMicroTime(0, 2500000000), "1970-01-01T00:00:02.500000Z");
}

TEST(FormatDurationTest, LikeGo) {
  EXPECT_EQ(FormatDuration(0), "0s");
  EXPECT_EQ(FormatDuration(1), "1ns");
  EXPECT_EQ(FormatDuration(1500), "1.5\xc2\xb5s");
  EXPECT_EQ(FormatDuration(1500000), "1.5ms");
  EXPECT_EQ(FormatDuration(1000000000), "1s");
  EXPECT_EQ(FormatDuration(90000000000), "1m30s");
  EXPECT_EQ(FormatDuration(3600000000000), "1h0m0s");
  EXPECT_EQ(FormatDuration(3723500000000), "1h2m3.5s");
  EXPECT_EQ(FormatDuration(-2000000000), "-2s");
  EXPECT_EQ(FormatDuration(std::numeric_limits<int64_t>::min()), "-2562047h47m16.854775808s");
}

TEST(JsonNestingDepthTest, CountsOutsideStrings) {
  EXPECT_EQ(JsonNestingDepth("{}"), 1);
  EXPECT_EQ(JsonNestingDepth(R"({"a":[{"b":"[[[["}]})"), 3);
  EXPECT_EQ(JsonNestingDepth(R"("\"{")"), 0);
}

}  // namespace
}  // namespace lifeboat::storage::internal
