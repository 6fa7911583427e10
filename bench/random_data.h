// Deterministic pseudo-random contents for the benchmark loaders (bench_load_objects through the
// API server, bench_etcd_objects straight into etcd): both must write the same data for the same
// object index, so that their numbers compare.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"

namespace lifeboat::bench {

// xorshift64*: deterministic per object, so reruns write identical objects.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ULL + 1) {}
  uint64_t Next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1DULL;
  }
};

// `n` random bytes (a Secret's value).
inline std::string RandomBytes(Rng& rng, int n) {
  std::string s(n, '\0');
  for (int i = 0; i < n; ++i) s[i] = static_cast<char>(rng.Next() >> 56);
  return s;
}

// About `n` bytes of printable text resembling a config file: `setting-N: "<hex>"` lines.
inline std::string RandomText(Rng& rng, int n) {
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(n + 64);
  int line = 0;
  while (static_cast<int>(s.size()) < n) {
    absl::StrAppend(&s, "setting-", line++, ": \"");
    for (int i = 0; i < 48 && static_cast<int>(s.size()) < n - 2; ++i) s += kHex[rng.Next() >> 60];
    s += "\"\n";
  }
  return s;
}

}  // namespace lifeboat::bench
