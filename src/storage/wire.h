// A bounds-checked reader of the protobuf wire format: the one place that touches raw bytes.
// Every malformed input (truncated varint, length past the end, groups, bad wire types) is an
// InvalidArgument status, never a crash or an out-of-range read.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "base/varint.h"

namespace lifeboat::storage::wire {

enum WireType : int { kVarint = 0, kFixed64 = 1, kLength = 2, kStartGroup = 3, kEndGroup = 4, kFixed32 = 5 };

// One field occurrence. `value` holds varints and fixed-width values; `bytes` length-delimited data.
struct Field {
  uint32_t number = 0;
  int wire_type = 0;
  uint64_t value = 0;
  absl::string_view bytes;
};

// Reads a base-128 varint from the front of `*in`, consuming it (Go's rules: base/varint.h).
inline absl::Status ReadVarint(absl::string_view* in, uint64_t* out) {
  std::string_view rest(in->data(), in->size());
  if (base::VarintError e = base::ConsumeVarint(rest, *out); e != base::VarintError::kNone) {
    return absl::InvalidArgumentError(base::VarintErrorText(e));
  }
  in->remove_prefix(in->size() - rest.size());
  return absl::OkStatus();
}

class Reader {
 public:
  explicit Reader(absl::string_view data) : rest_(data) {}

  bool done() const { return rest_.empty(); }

  // Reads the next field. InvalidArgument on malformed input.
  absl::Status Next(Field* field) {
    uint64_t tag = 0;
    if (auto s = ReadVarint(&rest_, &tag); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("field tag: ", s.message()));
    }
    field->number = static_cast<uint32_t>(tag >> 3);
    field->wire_type = static_cast<int>(tag & 7);
    field->value = 0;
    field->bytes = {};
    if (tag >> 3 == 0 || tag >> 3 > base::kMaxFieldNumber) {
      return absl::InvalidArgumentError(absl::StrCat("invalid field number ", tag >> 3));
    }
    switch (field->wire_type) {
      case kVarint:
        if (auto s = ReadVarint(&rest_, &field->value); !s.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat("<field ", field->number, ">: ", s.message()));
        }
        return absl::OkStatus();
      case kFixed64:
        return ReadFixed(8, field);
      case kFixed32:
        return ReadFixed(4, field);
      case kLength: {
        uint64_t length = 0;
        if (auto s = ReadVarint(&rest_, &length); !s.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat("<field ", field->number, "> length: ", s.message()));
        }
        if (length > rest_.size()) {
          return absl::InvalidArgumentError(absl::StrCat("<field ", field->number, "> claims ",
                                                         length, " bytes but only ", rest_.size(),
                                                         " remain (truncated value?)"));
        }
        field->bytes = rest_.substr(0, length);
        rest_.remove_prefix(length);
        return absl::OkStatus();
      }
      default:
        return absl::InvalidArgumentError(absl::StrCat(
            "<field ", field->number, "> has wire type ", field->wire_type,
            field->wire_type == kStartGroup || field->wire_type == kEndGroup
                ? " (group), which Kubernetes never writes"
                : ", which does not exist"));
    }
  }

 private:
  absl::Status ReadFixed(int width, Field* field) {
    if (static_cast<int>(rest_.size()) < width) {
      return absl::InvalidArgumentError(
          absl::StrCat("<field ", field->number, ">: truncated fixed-width value"));
    }
    uint64_t v = 0;
    for (int i = 0; i < width; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(rest_[i])) << (8 * i);
    rest_.remove_prefix(width);
    field->value = v;
    return absl::OkStatus();
  }

  absl::string_view rest_;
};

}  // namespace lifeboat::storage::wire
