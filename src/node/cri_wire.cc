#include "node/cri_wire.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "base/varint.h"
#include "node/cri.h"

namespace lifeboat::node::cri_wire {
namespace {

// Wire types.
constexpr int kVarint = 0;
constexpr int kFixed64 = 1;
constexpr int kLengthDelimited = 2;
constexpr int kStartGroup = 3;
constexpr int kEndGroup = 4;
constexpr int kFixed32 = 5;

// libprotobuf's default recursion limit; only unknown groups nest here.
constexpr int kMaxGroupDepth = 100;

// ---- Encoding ----

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void PutTag(std::string& out, uint32_t field, int wire_type) {
  PutVarint(out, (static_cast<uint64_t>(field) << 3) | wire_type);
}

void PutBytes(std::string& out, uint32_t field, std::string_view bytes) {
  PutTag(out, field, kLengthDelimited);
  PutVarint(out, bytes.size());
  out.append(bytes);
}

// {filter(1): {state(2): {state(1): state}}}, the shape of both List*Request messages. A zero
// state is left out of the innermost message, as proto3 does; the wrapper is still sent, which
// is how "READY" (0) is told from "no state filter".
std::string EncodeStateFilterRequest(int32_t state) {
  std::string state_value;
  if (state != 0) {
    PutTag(state_value, 1, kVarint);
    PutVarint(state_value,
              static_cast<uint64_t>(static_cast<int64_t>(state)));  // enums sign-extend
  }
  std::string filter;
  PutBytes(filter, 2, state_value);
  std::string req;
  PutBytes(req, 1, filter);
  return req;
}

// ---- Decoding ----

// A cursor over one message's bytes. `base` is the message's offset in the whole buffer, so
// errors point at the right byte.
class Reader {
 public:
  Reader(std::string_view bytes, size_t base) : data_(bytes), base_(base) {}

  bool done() const { return pos_ >= data_.size(); }

  // The next field's number and wire type. Field 0 and wire types 6 and 7 are errors; so is an
  // end-group tag, which only Skip() expects.
  absl::Status Tag(uint32_t& field, int& wire_type) {
    size_t at = pos_;
    uint32_t tag;
    LB_RETURN_IF_ERROR(Tag32(tag));
    field = tag >> 3;
    wire_type = static_cast<int>(tag & 7);
    if (field == 0) return Error(at, "field number 0");
    if (wire_type > kFixed32) return Error(at, absl::StrCat("invalid wire type ", wire_type));
    if (wire_type == kEndGroup) return Error(at, "unexpected end-group tag");
    return absl::OkStatus();
  }

  // A tag is a varint (base/varint.h) whose field number Go's decoder accepts (1 .. 2^29-1).
  absl::Status Tag32(uint32_t& tag) {
    size_t at = pos_;
    uint64_t v;
    LB_RETURN_IF_ERROR(Varint(v));
    if (v >> 3 > base::kMaxFieldNumber) {
      return Error(at, absl::StrCat("field number ", v >> 3, " out of range"));
    }
    tag = static_cast<uint32_t>(v);
    return absl::OkStatus();
  }

  absl::Status Varint(uint64_t& v) {
    std::string_view rest = data_.substr(pos_);
    if (base::VarintError e = base::ConsumeVarint(rest, v); e != base::VarintError::kNone) {
      return Error(pos_, base::VarintErrorText(e));
    }
    pos_ = data_.size() - rest.size();
    return absl::OkStatus();
  }

  // A length-delimited field's payload, and its offset in the whole buffer.
  absl::Status Bytes(std::string_view& out, size_t& offset) {
    size_t at = pos_;
    uint64_t len;
    LB_RETURN_IF_ERROR(Varint(len));
    if (len > data_.size() - pos_) {
      return Error(at, absl::StrCat("length ", len, " runs past the end (", data_.size() - pos_,
                                    " bytes left)"));
    }
    offset = base_ + pos_;
    out = data_.substr(pos_, static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return absl::OkStatus();
  }

  absl::Status String(std::string& out) {
    std::string_view v;
    size_t offset;
    LB_RETURN_IF_ERROR(Bytes(v, offset));
    out.assign(v.data(), v.size());
    return absl::OkStatus();
  }

  // A proto enum: int32, sign-extended to 64 bits on the wire.
  absl::Status Enum(int32_t& out) {
    uint64_t v;
    LB_RETURN_IF_ERROR(Varint(v));
    out = static_cast<int32_t>(static_cast<uint32_t>(v));
    return absl::OkStatus();
  }

  // Skips the payload of a field we do not read (its tag already consumed).
  absl::Status Skip(uint32_t field, int wire_type, int depth = 0) {
    size_t at = pos_;
    switch (wire_type) {
      case kVarint: {
        uint64_t v;
        return Varint(v);
      }
      case kFixed64:
        return Advance(at, 8);
      case kFixed32:
        return Advance(at, 4);
      case kLengthDelimited: {
        std::string_view v;
        size_t offset;
        return Bytes(v, offset);
      }
      case kStartGroup: {
        if (depth >= kMaxGroupDepth) return Error(at, "groups nested too deeply");
        for (;;) {
          if (done()) return Error(at, absl::StrCat("group ", field, " not ended"));
          size_t tag_at = pos_;
          uint32_t tag;
          LB_RETURN_IF_ERROR(Tag32(tag));
          uint32_t f = tag >> 3;
          int wt = static_cast<int>(tag & 7);
          if (f == 0) return Error(tag_at, "field number 0");
          if (wt > kFixed32) return Error(tag_at, absl::StrCat("invalid wire type ", wt));
          if (wt == kEndGroup) {
            if (f != field) return Error(tag_at, absl::StrCat("group ", field, " ended as ", f));
            return absl::OkStatus();
          }
          LB_RETURN_IF_ERROR(Skip(f, wt, depth + 1));
        }
      }
      default:
        return Error(at, absl::StrCat("invalid wire type ", wire_type));
    }
  }

  absl::Status Error(size_t at, absl::string_view what) const {
    return absl::InternalError(absl::StrCat(what, " at byte ", base_ + at));
  }

 private:
  absl::Status Advance(size_t at, size_t n) {
    if (n > data_.size() - pos_) return Error(at, "truncated fixed-size field");
    pos_ += n;
    return absl::OkStatus();
  }

  std::string_view data_;
  size_t base_;
  size_t pos_ = 0;
};

// Calls `on_field(reader, field, wire_type)` for each field of the message in `bytes`; it returns
// false for fields it does not want, which are then skipped. Fields it does want with another
// wire type than expected are skipped too, as libprotobuf keeps them as unknown fields.
template <typename F>
absl::Status ForEachField(std::string_view bytes, size_t base, F&& on_field) {
  Reader r(bytes, base);
  while (!r.done()) {
    uint32_t field;
    int wire_type;
    LB_RETURN_IF_ERROR(r.Tag(field, wire_type));
    bool taken = false;
    LB_RETURN_IF_ERROR(on_field(r, field, wire_type, taken));
    if (!taken) LB_RETURN_IF_ERROR(r.Skip(field, wire_type));
  }
  return absl::OkStatus();
}

// A map<string, string> entry {key = 1, value = 2}: the value goes to the one of `keys` that
// matches the entry's key, if any, and is dropped otherwise (without being copied). Duplicate
// keys: the last one wins, as for a protobuf map.
struct WantedLabel {
  const char* key;
  std::string* value;
};

template <size_t N>
absl::Status MapEntry(std::string_view bytes, size_t base, const WantedLabel (&wanted)[N]) {
  std::string_view key, value;
  LB_RETURN_IF_ERROR(ForEachField(bytes, base, [&](Reader& r, uint32_t f, int wt, bool& taken) {
    if (wt != kLengthDelimited || (f != 1 && f != 2)) return absl::OkStatus();
    taken = true;
    size_t offset;
    return r.Bytes(f == 1 ? key : value, offset);
  }));
  for (const WantedLabel& w : wanted) {
    if (key == w.key) {
      w.value->assign(value.data(), value.size());
      break;
    }
  }
  return absl::OkStatus();
}

// Decodes a length-delimited sub-message field with `decode(bytes, offset)`.
template <typename F>
absl::Status SubMessage(Reader& r, F&& decode) {
  std::string_view bytes;
  size_t offset;
  LB_RETURN_IF_ERROR(r.Bytes(bytes, offset));
  return decode(bytes, offset);
}

absl::Status DecodeSandbox(std::string_view bytes, size_t base, PodSandbox& s) {
  const WantedLabel labels[] = {{kPodNameLabel, &s.label_pod_name},
                                {kPodNamespaceLabel, &s.label_pod_namespace},
                                {kPodUidLabel, &s.label_pod_uid}};
  return ForEachField(bytes, base, [&](Reader& r, uint32_t f, int wt, bool& taken) -> absl::Status {
    taken = true;
    if (f == 1 && wt == kLengthDelimited) return r.String(s.id);
    if (f == 3 && wt == kVarint) return r.Enum(s.state);
    if (f == 2 && wt == kLengthDelimited) {  // PodSandboxMetadata: repeated occurrences merge
      return SubMessage(r, [&](std::string_view m, size_t at) {
        return ForEachField(m, at,
                            [&](Reader& mr, uint32_t mf, int mwt, bool& mtaken) -> absl::Status {
                              if (mwt != kLengthDelimited || mf < 1 || mf > 3)
                                return absl::OkStatus();
                              mtaken = true;
                              return mr.String(mf == 1 ? s.name : mf == 2 ? s.uid : s.ns);
                            });
      });
    }
    if (f == 5 && wt == kLengthDelimited) {  // labels
      return SubMessage(r, [&](std::string_view e, size_t at) { return MapEntry(e, at, labels); });
    }
    taken = false;  // created_at, annotations, runtime_handler, anything newer
    return absl::OkStatus();
  });
}

absl::Status DecodeContainer(std::string_view bytes, size_t base, Container& c) {
  const WantedLabel labels[] = {{kPodNameLabel, &c.label_pod_name},
                                {kPodNamespaceLabel, &c.label_pod_namespace},
                                {kContainerNameLabel, &c.label_container_name}};
  return ForEachField(bytes, base, [&](Reader& r, uint32_t f, int wt, bool& taken) -> absl::Status {
    taken = true;
    if (f == 1 && wt == kLengthDelimited) return r.String(c.id);
    if (f == 2 && wt == kLengthDelimited) return r.String(c.pod_sandbox_id);
    if (f == 6 && wt == kVarint) return r.Enum(c.state);
    if (f == 3 && wt == kLengthDelimited) {  // ContainerMetadata
      return SubMessage(r, [&](std::string_view m, size_t at) {
        return ForEachField(m, at,
                            [&](Reader& mr, uint32_t mf, int mwt, bool& mtaken) -> absl::Status {
                              if (mf != 1 || mwt != kLengthDelimited) return absl::OkStatus();
                              mtaken = true;
                              return mr.String(c.name);
                            });
      });
    }
    if (f == 8 && wt == kLengthDelimited) {  // labels
      return SubMessage(r, [&](std::string_view e, size_t at) { return MapEntry(e, at, labels); });
    }
    taken = false;  // image, image_ref, created_at, annotations, anything newer
    return absl::OkStatus();
  });
}

// A repeated message field `field` of a top-level response, each element decoded by `decode`.
template <typename T, typename F>
absl::StatusOr<std::vector<T>> DecodeList(std::string_view bytes, uint32_t field, const char* what,
                                          F&& decode) {
  std::vector<T> out;
  absl::Status s =
      ForEachField(bytes, 0, [&](Reader& r, uint32_t f, int wt, bool& taken) -> absl::Status {
        if (f != field || wt != kLengthDelimited) return absl::OkStatus();
        taken = true;
        return SubMessage(r, [&](std::string_view m, size_t at) {
          out.emplace_back();
          return decode(m, at, out.back());
        });
      });
  if (!s.ok()) return Annotate(s, absl::StrCat("malformed ", what));
  return out;
}

}  // namespace

std::string EncodeVersionRequest(std::string_view version) {
  std::string req;
  if (!version.empty()) PutBytes(req, 1, version);
  return req;
}

std::string EncodeListPodSandboxRequest(int32_t state) { return EncodeStateFilterRequest(state); }

std::string EncodeListContainersRequest(int32_t state) { return EncodeStateFilterRequest(state); }

absl::StatusOr<VersionResponse> DecodeVersionResponse(std::string_view bytes) {
  VersionResponse v;
  absl::Status s =
      ForEachField(bytes, 0, [&](Reader& r, uint32_t f, int wt, bool& taken) -> absl::Status {
        if (wt != kLengthDelimited || f < 1 || f > 4) return absl::OkStatus();
        taken = true;
        std::string* fields[] = {&v.version, &v.runtime_name, &v.runtime_version,
                                 &v.runtime_api_version};
        return r.String(*fields[f - 1]);
      });
  if (!s.ok()) return Annotate(s, "malformed VersionResponse");
  return v;
}

absl::StatusOr<std::vector<PodSandbox>> DecodeListPodSandboxResponse(std::string_view bytes) {
  return DecodeList<PodSandbox>(bytes, 1, "ListPodSandboxResponse", DecodeSandbox);
}

absl::StatusOr<std::vector<Container>> DecodeListContainersResponse(std::string_view bytes) {
  return DecodeList<Container>(bytes, 1, "ListContainersResponse", DecodeContainer);
}

}  // namespace lifeboat::node::cri_wire
