#include "storage/go_json.h"

#include <cstdio>

#include "absl/strings/str_cat.h"

namespace lifeboat::storage::internal {
namespace {

// Length of the valid UTF-8 sequence at the start of `s`, or 0 if it does not start with one.
// Same acceptance as Go's utf8.DecodeRune: no overlong forms, no surrogates, <= U+10FFFF.
int ValidUtf8Length(absl::string_view s) {
  auto at = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  auto cont = [&](size_t i, uint8_t lo = 0x80, uint8_t hi = 0xbf) {
    return i < s.size() && at(i) >= lo && at(i) <= hi;
  };
  uint8_t b = at(0);
  if (b < 0x80) return 1;
  if (b >= 0xc2 && b <= 0xdf) return cont(1) ? 2 : 0;
  if (b == 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((b >= 0xe1 && b <= 0xec) || b == 0xee || b == 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (b == 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (b == 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (b >= 0xf1 && b <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (b == 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

struct Civil {
  int64_t year;
  int month, day, hour, minute, second;
};

// Proleptic Gregorian calendar date of a Unix time (days-from-civil inverted, era-based so
// that every int64 input stays in range).
Civil ToCivil(int64_t unix_seconds) {
  int64_t days = unix_seconds / 86400;
  int64_t secs = unix_seconds % 86400;
  if (secs < 0) {
    secs += 86400;
    days -= 1;
  }
  int64_t z = days + 719468;  // days since 0000-03-01
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;                                    // [0, 146096]
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);             // [0, 365]
  int64_t mp = (5 * doy + 2) / 153;                                  // March-based month
  Civil c;
  c.day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  c.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  c.year = yoe + era * 400 + (c.month <= 2 ? 1 : 0);
  c.hour = static_cast<int>(secs / 3600);
  c.minute = static_cast<int>(secs / 60 % 60);
  c.second = static_cast<int>(secs % 60);
  return c;
}

std::string FormatCivil(const Civil& c) {
  // Go pads the year to 4 digits and prints a leading '-' for negative years.
  std::string year = c.year < 0 ? "-" : "";
  uint64_t abs_year = c.year < 0 ? 0 - static_cast<uint64_t>(c.year) : c.year;
  std::string digits = absl::StrCat(abs_year);
  if (digits.size() < 4) digits.insert(0, 4 - digits.size(), '0');
  char rest[32];
  std::snprintf(rest, sizeof(rest), "-%02d-%02dT%02d:%02d:%02d", c.month, c.day, c.hour, c.minute,
                c.second);
  return absl::StrCat(year, digits, rest);
}

// Writes `v` / 10^digits with the fraction's trailing zeros (and a bare '.') removed.
std::string FixedPoint(uint64_t v, int digits) {
  uint64_t scale = 1;
  for (int i = 0; i < digits; ++i) scale *= 10;
  std::string out = absl::StrCat(v / scale);
  uint64_t frac = v % scale;
  if (frac != 0) {
    std::string f = absl::StrCat(frac);
    f.insert(0, digits - f.size(), '0');
    while (!f.empty() && f.back() == '0') f.pop_back();
    absl::StrAppend(&out, ".", f);
  }
  return out;
}

}  // namespace

std::string GoString(absl::string_view bytes) {
  // Fast path: almost every string is valid UTF-8 (mostly ASCII) and is copied as is.
  size_t valid = 0;
  while (valid < bytes.size()) {
    if (static_cast<uint8_t>(bytes[valid]) < 0x80) {
      ++valid;
      continue;
    }
    int n = ValidUtf8Length(bytes.substr(valid));
    if (n == 0) break;
    valid += n;
  }
  if (valid == bytes.size()) return std::string(bytes);
  std::string out(bytes.substr(0, valid));
  bytes.remove_prefix(valid);
  while (!bytes.empty()) {
    int n = ValidUtf8Length(bytes);
    if (n == 0) {
      out.append("\xef\xbf\xbd");
      bytes.remove_prefix(1);
    } else {
      out.append(bytes.data(), n);
      bytes.remove_prefix(n);
    }
  }
  return out;
}

std::string FormatTime(int64_t unix_seconds) {
  return absl::StrCat(FormatCivil(ToCivil(unix_seconds)), "Z");
}

std::string FormatMicroTime(int64_t unix_seconds, int64_t nanos) {
  int64_t carry = nanos / 1000000000;
  nanos %= 1000000000;
  if (nanos < 0) {
    nanos += 1000000000;
    carry -= 1;
  }
  int64_t seconds;
  if (__builtin_add_overflow(unix_seconds, carry, &seconds)) seconds = unix_seconds;
  char frac[16];
  std::snprintf(frac, sizeof(frac), ".%06d", static_cast<int>(nanos / 1000));
  return absl::StrCat(FormatCivil(ToCivil(seconds)), frac, "Z");
}

std::string FormatDuration(int64_t nanos) {
  if (nanos == 0) return "0s";
  bool negative = nanos < 0;
  uint64_t u = negative ? 0 - static_cast<uint64_t>(nanos) : static_cast<uint64_t>(nanos);
  std::string out;
  if (u < 1000) {
    out = absl::StrCat(u, "ns");
  } else if (u < 1000000) {
    out = absl::StrCat(FixedPoint(u, 3), "\xc2\xb5s");  // µs, as Go writes it
  } else if (u < 1000000000) {
    out = absl::StrCat(FixedPoint(u, 6), "ms");
  } else {
    uint64_t seconds = u / 1000000000;
    std::string s = absl::StrCat(FixedPoint(seconds % 60 * 1000000000 + u % 1000000000, 9), "s");
    uint64_t minutes = seconds / 60;
    if (minutes > 0) {
      uint64_t hours = minutes / 60;
      s = absl::StrCat(minutes % 60, "m", s);
      if (hours > 0) s = absl::StrCat(hours, "h", s);
    }
    out = s;
  }
  return negative ? absl::StrCat("-", out) : out;
}

int JsonNestingDepth(absl::string_view text) {
  int depth = 0, max_depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) max_depth = depth;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max_depth;
}

}  // namespace lifeboat::storage::internal
