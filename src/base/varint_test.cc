#include "base/varint.h"

#include <random>
#include <string>

#include "gtest/gtest.h"

namespace lifeboat::base {
namespace {

std::string Encode(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}

// Go's protowire.ConsumeVarint on each input, written down case by case.
TEST(VarintTest, GoRules) {
  struct Case {
    const char* what;
    std::string in;
    VarintError error;
    uint64_t value;
    size_t size;
  };
  const std::string ff9(9, '\xff');
  const std::string x80_9(9, '\x80');
  const Case cases[] = {
      {"empty", "", VarintError::kTruncated, 0, 0},
      {"zero", std::string("\x00", 1), VarintError::kNone, 0, 1},
      {"one byte max", "\x7f", VarintError::kNone, 127, 1},
      {"two bytes", "\x80\x01", VarintError::kNone, 128, 2},
      {"300", "\xac\x02", VarintError::kNone, 300, 2},
      {"trailing bytes are not read", "\x01\x02", VarintError::kNone, 1, 1},
      {"non-minimal zero", std::string("\x80\x00", 2), VarintError::kNone, 0, 2},
      {"non-minimal zero, 10 bytes", x80_9 + std::string("\x00", 1), VarintError::kNone, 0, 10},
      {"2^63 - 1 in 10 bytes", ff9 + std::string("\x00", 1), VarintError::kNone,
       (uint64_t{1} << 63) - 1, 10},
      {"2^63", x80_9 + "\x01", VarintError::kNone, uint64_t{1} << 63, 10},
      {"max uint64", ff9 + "\x01", VarintError::kNone, ~uint64_t{0}, 10},
      {"-1 as an int64 field", Encode(~uint64_t{0}), VarintError::kNone, ~uint64_t{0}, 10},
      {"continuation then end", "\x80", VarintError::kTruncated, 0, 0},
      {"nine continuation bytes then end", ff9, VarintError::kTruncated, 0, 0},
      {"10th byte 2", ff9 + "\x02", VarintError::kOverflow, 0, 0},
      {"10th byte 0x7f", ff9 + "\x7f", VarintError::kOverflow, 0, 0},
      {"10th byte 0x81 (continues)", ff9 + "\x81\x00", VarintError::kOverflow, 0, 0},
      {"11 bytes", std::string(10, '\xff') + "\x01", VarintError::kOverflow, 0, 0},
      {"11 bytes of non-minimal zero", std::string(10, '\x80') + std::string("\x00", 1),
       VarintError::kOverflow, 0, 0},
      {"10th byte 0x80 at the end of input", x80_9 + "\x80", VarintError::kOverflow, 0, 0},
  };
  for (const Case& c : cases) {
    ParsedVarint p = ParseVarint(c.in);
    EXPECT_EQ(p.error, c.error) << c.what;
    EXPECT_EQ(p.value, c.value) << c.what;
    EXPECT_EQ(p.size, c.size) << c.what;

    std::string_view rest = c.in;
    uint64_t out = 12345;
    EXPECT_EQ(ConsumeVarint(rest, out), c.error) << c.what;
    if (c.error == VarintError::kNone) {
      EXPECT_EQ(out, c.value) << c.what;
      EXPECT_EQ(rest.size(), c.in.size() - c.size) << c.what;
    } else {
      EXPECT_EQ(out, 12345u) << c.what << ": output changed on error";
      EXPECT_EQ(rest.size(), c.in.size()) << c.what << ": input consumed on error";
    }
  }
}

TEST(VarintTest, RoundTripAndEveryTruncation) {
  std::mt19937_64 rng(11);
  for (int i = 0; i < 20000; ++i) {
    uint64_t v = rng() >> (rng() % 64);
    std::string enc = Encode(v);
    ParsedVarint p = ParseVarint(enc + "tail");
    ASSERT_EQ(p.error, VarintError::kNone) << v;
    EXPECT_EQ(p.value, v);
    EXPECT_EQ(p.size, enc.size());
    for (size_t n = 0; n < enc.size(); ++n) {
      EXPECT_EQ(ParseVarint(std::string_view(enc).substr(0, n)).error, VarintError::kTruncated)
          << v << " cut to " << n << " bytes";
    }
  }
}

TEST(VarintTest, UsableAtCompileTime) {
  static_assert(ParseVarint("\xac\x02").value == 300);
  static_assert(ParseVarint("\x80").error == VarintError::kTruncated);
  static_assert(std::string_view(VarintErrorText(VarintError::kOverflow)) ==
                "varint overflows 64 bits");
  static_assert(kMaxFieldNumber == 536870911);
}

}  // namespace
}  // namespace lifeboat::base
