// Protobuf base-128 varints, read by the rules of Go's protobuf (protowire.ConsumeVarint), the
// library that wrote every message we decode (etcd, the API server, containerd): at most 10
// bytes; the 10th byte must be 0 or 1 (anything more overflows 64 bits); input that ends before
// a byte without its continuation bit is truncated. Non-minimal encodings ("\x80\x00" for 0) are
// accepted, as Go accepts them. The one varint reader of the project: storage/'s wire reader,
// the CRI codec and the etcd snapshot reader all call it.
//
//   uint64_t v;
//   if (base::ConsumeVarint(rest, v) != base::VarintError::kNone) return Refuse(...);
//
// Header-only and free of dependencies beyond the standard library, so that the lean
// checkpointer binary can use it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace lifeboat::base {

enum class VarintError : uint8_t {
  kNone = 0,
  kTruncated,  // the input ends inside the varint
  kOverflow,   // more than 10 bytes, or a 10th byte above 1: the value does not fit 64 bits
};

// The largest field number a tag may carry (2^29 - 1); Go's decoder refuses larger ones and 0.
inline constexpr uint64_t kMaxFieldNumber = (uint64_t{1} << 29) - 1;

struct ParsedVarint {
  uint64_t value = 0;
  size_t size = 0;  // bytes the varint occupies (1..10); 0 on error
  VarintError error = VarintError::kNone;
};

// Parses the varint at the front of `in` without consuming it.
constexpr ParsedVarint ParseVarint(std::string_view in) noexcept {
  uint64_t value = 0;
  for (size_t i = 0; i < 10; ++i) {
    if (i >= in.size()) return {0, 0, VarintError::kTruncated};
    const uint8_t b = static_cast<uint8_t>(in[i]);
    if (i == 9 && b > 1) return {0, 0, VarintError::kOverflow};
    value |= uint64_t{b & 0x7fu} << (7 * i);
    if (b < 0x80) return {value, i + 1, VarintError::kNone};
  }
  return {0, 0, VarintError::kOverflow};  // unreachable: a 10th byte <= 1 ends the loop
}

// Reads the varint at the front of `in` into `out` and removes it from `in`. On error neither
// `in` nor `out` changes.
constexpr VarintError ConsumeVarint(std::string_view& in, uint64_t& out) noexcept {
  const ParsedVarint p = ParseVarint(in);
  if (p.error == VarintError::kNone) {
    out = p.value;
    in.remove_prefix(p.size);
  }
  return p.error;
}

// For messages: "truncated varint" / "varint overflows 64 bits" (a C string: abseil's
// string_view is not std's in every build).
constexpr const char* VarintErrorText(VarintError e) noexcept {
  switch (e) {
    case VarintError::kNone:
      return "no error";
    case VarintError::kTruncated:
      return "truncated varint";
    case VarintError::kOverflow:
      return "varint overflows 64 bits";
  }
  return "invalid varint";
}

}  // namespace lifeboat::base
