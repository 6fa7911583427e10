// Test-only: builds protobuf wire bytes by hand, so tests can state exactly what is on the wire.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace lifeboat::storage::testing {

class Wire {
 public:
  Wire& Varint(uint32_t field, uint64_t v) {
    Tag(field, 0);
    Raw(v);
    return *this;
  }
  Wire& Bytes(uint32_t field, absl::string_view v) {
    Tag(field, 2);
    Raw(v.size());
    out_.append(v.data(), v.size());
    return *this;
  }
  Wire& Message(uint32_t field, const Wire& m) { return Bytes(field, m.str()); }
  Wire& Fixed64(uint32_t field, uint64_t v) {
    Tag(field, 1);
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>(v >> (8 * i)));
    return *this;
  }
  // A map<string, string> entry.
  Wire& MapEntry(uint32_t field, absl::string_view key, absl::string_view value) {
    return Message(field, Wire().Bytes(1, key).Bytes(2, value));
  }
  Wire& Append(absl::string_view raw) {
    out_.append(raw.data(), raw.size());
    return *this;
  }
  const std::string& str() const { return out_; }

  // `k8s\0` + runtime.Unknown{typeMeta{apiVersion, kind}, raw, "", ""} as the API server writes.
  static std::string Envelope(absl::string_view api_version, absl::string_view kind,
                              absl::string_view raw) {
    Wire w;
    w.Message(1, Wire().Bytes(1, api_version).Bytes(2, kind)).Bytes(2, raw).Bytes(3, "").Bytes(4, "");
    return std::string("k8s\0", 4) + w.str();
  }

 private:
  void Tag(uint32_t field, int type) { Raw((static_cast<uint64_t>(field) << 3) | type); }
  void Raw(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  std::string out_;
};

}  // namespace lifeboat::storage::testing
