#include "storage/proto_json.h"

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "storage/go_json.h"
#include "storage/wire.h"

namespace lifeboat::storage {
namespace {

// Deeper than any Kubernetes type nests; guards against recursive schemas.
constexpr int kMaxDepth = 64;
// encoding/json refuses documents nested deeper than this.
constexpr int kMaxEmbeddedJsonDepth = 10000;

using Occurrences = absl::InlinedVector<wire::Field, 1>;

int ExpectedWireType(ScalarType t) {
  switch (t) {
    case ScalarType::kMessage:
    case ScalarType::kString:
    case ScalarType::kBytes:
      return wire::kLength;
    case ScalarType::kFixed64:
    case ScalarType::kSfixed64:
    case ScalarType::kDouble:
      return wire::kFixed64;
    case ScalarType::kFixed32:
    case ScalarType::kSfixed32:
    case ScalarType::kFloat:
      return wire::kFixed32;
    default:
      return wire::kVarint;
  }
}

bool IsPackable(ScalarType t) {
  return ExpectedWireType(t) == wire::kVarint || ExpectedWireType(t) == wire::kFixed64 ||
         ExpectedWireType(t) == wire::kFixed32;
}

// Go's zero value of a scalar, as JSON.
Json ZeroScalar(ScalarType t) {
  switch (t) {
    case ScalarType::kString:
      return "";
    case ScalarType::kBytes:
      return nullptr;  // a nil []byte
    case ScalarType::kBool:
      return false;
    default:
      return 0;
  }
}

bool IsZeroScalar(const Json& v) {
  if (v.is_string()) return v.get_ref<const std::string&>().empty();
  if (v.is_boolean()) return !v.get<bool>();
  if (v.is_number_integer()) return v.get<int64_t>() == 0;
  if (v.is_number_unsigned()) return v.get<uint64_t>() == 0;
  if (v.is_number_float()) return v.get<double>() == 0;
  return v.is_null();
}

// Parses JSON embedded in a RawExtension or FieldsV1.
absl::StatusOr<Json> ParseEmbeddedJson(absl::string_view raw) {
  if (raw.empty()) return absl::InvalidArgumentError("embedded JSON is empty");
  if (raw.size() >= 4 && raw.substr(0, 4) == absl::string_view("k8s\0", 4)) {
    return absl::UnimplementedError("embedded object is protobuf, not JSON");
  }
  if (internal::JsonNestingDepth(raw) > kMaxEmbeddedJsonDepth) {
    return absl::InvalidArgumentError("embedded JSON nests too deeply");
  }
  Json parsed = Json::parse(raw.begin(), raw.end(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return absl::InvalidArgumentError("embedded JSON does not parse");
  return parsed;
}

class Renderer {
 public:
  Renderer(const RenderOptions& options, std::vector<UnknownField>* unknown)
      : options_(options), unknown_(unknown) {}

  absl::Status Message(const MessageSchema& m, absl::string_view bytes, Json* out) {
    if (++depth_ > kMaxDepth) return Error("nesting too deep");
    absl::Status s = m.special != Special::kNone ? SpecialMessage(m, bytes, out)
                                                 : PlainMessage(m, bytes, out);
    --depth_;
    return s;
  }

 private:
  // Appends a path segment for the lifetime of the scope.
  class PathScope {
   public:
    PathScope(std::string* path, absl::string_view segment, bool dot) : path_(path), size_(path->size()) {
      if (dot && !path->empty()) path->push_back('.');
      path->append(segment.data(), segment.size());
    }
    ~PathScope() { path_->resize(size_); }

   private:
    std::string* path_;
    size_t size_;
  };

  absl::Status Error(absl::string_view message) const {
    return absl::InvalidArgumentError(
        absl::StrCat(path_.empty() ? "<object>" : path_, ": ", message));
  }

  // Reads every field occurrence of `m` in `bytes`, grouped by field.
  absl::Status Collect(const MessageSchema& m, absl::string_view bytes,
                       std::vector<Occurrences>* occ) {
    occ->assign(m.fields.size(), {});
    wire::Reader reader(bytes);
    while (!reader.done()) {
      wire::Field w;
      if (absl::Status s = reader.Next(&w); !s.ok()) {
        return Error(absl::StrCat(s.message(), " (in ", m.full_name, ")"));
      }
      const FieldSchema* f = m.FindField(w.number);
      if (f == nullptr) {
        PathScope scope(&path_, absl::StrCat("<field ", w.number, ">"), true);
        if (Drop(m, w, false)) continue;
        return Error(absl::StrCat("unknown field (wire type ", w.wire_type, ") in ", m.full_name,
                                  ": the schema does not know it, refusing to drop data"));
      }
      int expected = ExpectedWireType(f->type);
      bool packed = f->repeated && !f->is_map && IsPackable(f->type) && w.wire_type == wire::kLength;
      if (w.wire_type != expected && !packed) {
        PathScope scope(&path_, FieldLabel(*f), true);
        if (Drop(m, w, true)) continue;
        return Error(absl::StrCat("wire type ", w.wire_type, " where ", m.full_name, ".",
                                  f->proto_name, " needs ", expected));
      }
      (*occ)[f - m.fields.data()].push_back(w);
    }
    return absl::OkStatus();
  }

  // Records a field that cannot be decoded when the options allow dropping it.
  bool Drop(const MessageSchema& m, const wire::Field& w, bool known_number) {
    if (!options_.drop_unknown_fields || unknown_ == nullptr) return false;
    unknown_->push_back(UnknownField{path_, w.number, w.wire_type, m.full_name, known_number});
    return true;
  }

  static std::string FieldLabel(const FieldSchema& f) {
    return f.inline_ ? absl::StrCat("<inline ", f.proto_name, ">") : f.json;
  }

  absl::Status PlainMessage(const MessageSchema& m, absl::string_view bytes, Json* out) {
    std::vector<Occurrences> occ;
    LB_RETURN_IF_ERROR(Collect(m, bytes, &occ));
    *out = Json::object();
    // Direct fields first: Go gives them precedence over promoted (inline) ones.
    for (size_t i = 0; i < m.fields.size(); ++i) {
      if (!m.fields[i].inline_) LB_RETURN_IF_ERROR(Field(m.fields[i], occ[i], out));
    }
    for (size_t i = 0; i < m.fields.size(); ++i) {
      const FieldSchema& f = m.fields[i];
      if (!f.inline_) continue;
      if (f.type != ScalarType::kMessage || f.repeated) {
        return Error(absl::StrCat("schema: inline field ", f.proto_name, " is not a struct"));
      }
      if (f.pointer && occ[i].empty()) continue;  // nil embedded pointer: nothing promoted
      std::string joined;
      Json child;
      LB_RETURN_IF_ERROR(Message(*f.message, Join(occ[i], &joined), &child));
      if (!child.is_object()) {
        return Error(absl::StrCat("schema: inline field ", f.proto_name, " is not an object"));
      }
      for (auto& [key, value] : child.items()) {
        if (!out->contains(key)) (*out)[key] = std::move(value);
      }
    }
    return absl::OkStatus();
  }

  // The bytes of a singular message field: several occurrences merge as their concatenation.
  static absl::string_view Join(const Occurrences& occ, std::string* storage) {
    if (occ.empty()) return {};
    if (occ.size() == 1) return occ[0].bytes;
    for (const auto& w : occ) storage->append(w.bytes.data(), w.bytes.size());
    return *storage;
  }

  absl::Status Field(const FieldSchema& f, const Occurrences& occ, Json* out) {
    PathScope scope(&path_, f.json, true);
    if (f.is_map) {
      if (occ.empty()) return Absent(f, out);
      Json obj = Json::object();
      for (const auto& entry : occ) LB_RETURN_IF_ERROR(MapEntry(f, entry.bytes, &obj));
      (*out)[f.json] = std::move(obj);
      return absl::OkStatus();
    }
    if (f.repeated) {
      Json arr = Json::array();
      for (const auto& w : occ) {
        if (f.type == ScalarType::kMessage) {
          PathScope index(&path_, absl::StrCat("[", arr.size(), "]"), false);
          Json element;
          LB_RETURN_IF_ERROR(Message(*f.message, w.bytes, &element));
          arr.push_back(std::move(element));
        } else if (w.wire_type == wire::kLength && f.type != ScalarType::kString &&
                   f.type != ScalarType::kBytes) {
          LB_RETURN_IF_ERROR(Packed(f, w.bytes, &arr));
        } else {
          LB_ASSIGN_OR_RETURN(Json v, Scalar(f.type, w));
          arr.push_back(std::move(v));
        }
      }
      if (arr.empty()) return Absent(f, out);  // Go: a nil slice
      (*out)[f.json] = std::move(arr);
      return absl::OkStatus();
    }
    if (f.type == ScalarType::kMessage) {
      if (occ.empty() && f.pointer) return Absent(f, out);
      // A non-pointer struct is always rendered, from its zero value if absent.
      std::string joined;
      Json v;
      LB_RETURN_IF_ERROR(Message(*f.message, Join(occ, &joined), &v));
      // omitzero: of the struct types Kubernetes tags so, only Time and MicroTime occur, whose
      // zero value renders as null (their IsZero()).
      if (f.omitzero && options_.omitzero && v.is_null()) return absl::OkStatus();
      (*out)[f.json] = std::move(v);
      return absl::OkStatus();
    }
    if (occ.empty()) {
      if (f.pointer) return Absent(f, out);
      Json zero = ZeroScalar(f.type);
      if ((f.omitempty || (f.omitzero && options_.omitzero)) && IsZeroScalar(zero)) {
        return absl::OkStatus();
      }
      (*out)[f.json] = std::move(zero);
      return absl::OkStatus();
    }
    LB_ASSIGN_OR_RETURN(Json v, Scalar(f.type, occ.back()));  // proto: the last one wins
    if ((f.omitempty || (f.omitzero && options_.omitzero)) && !f.pointer && IsZeroScalar(v)) {
      return absl::OkStatus();
    }
    (*out)[f.json] = std::move(v);
    return absl::OkStatus();
  }

  // A field with nothing on the wire: a nil pointer, slice or map.
  static absl::Status Absent(const FieldSchema& f, Json* out) {
    if (!f.omitempty) (*out)[f.json] = nullptr;
    return absl::OkStatus();
  }

  absl::Status Packed(const FieldSchema& f, absl::string_view bytes, Json* arr) {
    int wt = ExpectedWireType(f.type);
    while (!bytes.empty()) {
      wire::Field w;
      w.wire_type = wt;
      if (wt == wire::kVarint) {
        if (absl::Status s = wire::ReadVarint(&bytes, &w.value); !s.ok()) {
          return Error(absl::StrCat("packed element: ", s.message()));
        }
      } else {
        size_t width = wt == wire::kFixed64 ? 8 : 4;
        if (bytes.size() < width) return Error("packed element: truncated fixed-width value");
        for (size_t i = 0; i < width; ++i) {
          w.value |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[i])) << (8 * i);
        }
        bytes.remove_prefix(width);
      }
      LB_ASSIGN_OR_RETURN(Json v, Scalar(f.type, w));
      arr->push_back(std::move(v));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<Json> Scalar(ScalarType type, const wire::Field& w) {
    uint64_t v = w.value;
    switch (type) {
      case ScalarType::kString:
        return Json(internal::GoString(w.bytes));
      case ScalarType::kBytes:
        return Json(absl::Base64Escape(w.bytes));
      case ScalarType::kBool:
        return Json(v != 0);
      case ScalarType::kInt32:
      case ScalarType::kSfixed32:
      case ScalarType::kEnum:
        return Json(static_cast<int64_t>(static_cast<int32_t>(static_cast<uint32_t>(v))));
      case ScalarType::kInt64:
      case ScalarType::kSfixed64:
        return Json(static_cast<int64_t>(v));
      case ScalarType::kUint32:
      case ScalarType::kFixed32:
        return Json(static_cast<uint64_t>(static_cast<uint32_t>(v)));
      case ScalarType::kUint64:
      case ScalarType::kFixed64:
        return Json(v);
      case ScalarType::kSint32: {
        uint32_t u = static_cast<uint32_t>(v);
        return Json(static_cast<int64_t>(static_cast<int32_t>((u >> 1) ^ (0u - (u & 1)))));
      }
      case ScalarType::kSint64:
        return Json(static_cast<int64_t>((v >> 1) ^ (0 - (v & 1))));
      case ScalarType::kDouble:
      case ScalarType::kFloat: {
        double d;
        if (type == ScalarType::kDouble) {
          std::memcpy(&d, &v, sizeof d);
        } else {
          uint32_t bits = static_cast<uint32_t>(v);
          float fl;
          std::memcpy(&fl, &bits, sizeof fl);
          d = fl;
        }
        if (!std::isfinite(d)) return Error("NaN or infinite number, which JSON cannot carry");
        return Json(d);
      }
      case ScalarType::kMessage:
        break;
    }
    return Error("internal: scalar of message type");
  }

  absl::Status MapEntry(const FieldSchema& f, absl::string_view bytes, Json* obj) {
    const MessageSchema& entry = *f.message;
    const FieldSchema* key_field = entry.FindField(1);
    const FieldSchema* value_field = entry.FindField(2);
    if (key_field == nullptr || value_field == nullptr) return Error("schema: malformed map entry");
    std::vector<Occurrences> occ;
    size_t dropped_before = unknown_ != nullptr ? unknown_->size() : 0;
    absl::Status collected = Collect(entry, bytes, &occ);
    if (!collected.ok() || (unknown_ != nullptr && unknown_->size() > dropped_before)) {
      // Name the entry by its key when it can be found: report the error again under it, or
      // put it into the paths of the fields just dropped.
      wire::Reader reader(bytes);
      wire::Field w;
      std::string key = "?";
      while (!reader.done() && reader.Next(&w).ok()) {
        if (w.number == 1 && w.wire_type == wire::kLength) key = internal::GoString(w.bytes);
      }
      std::string segment = absl::StrCat("[", Json(key).dump(), "]");
      if (!collected.ok()) {
        if (unknown_ != nullptr) unknown_->resize(dropped_before);
        PathScope scope(&path_, segment, false);
        return Collect(entry, bytes, &occ);
      }
      for (size_t i = dropped_before; i < unknown_->size(); ++i) {
        std::string& p = (*unknown_)[i].path;
        p.insert(std::min(path_.size(), p.size()), segment);
      }
    }
    const Occurrences& k = occ[key_field - entry.fields.data()];
    const Occurrences& v = occ[value_field - entry.fields.data()];
    std::string key;
    if (key_field->type == ScalarType::kString) {
      key = k.empty() ? "" : internal::GoString(k.back().bytes);
    } else if (key_field->type == ScalarType::kBool || key_field->type == ScalarType::kBytes) {
      return Error("schema: map keys must be strings or integers");
    } else {
      Json kv = k.empty() ? Json(0) : Json();
      if (!k.empty()) {
        LB_ASSIGN_OR_RETURN(kv, Scalar(key_field->type, k.back()));
      }
      key = kv.dump();
    }
    PathScope scope(&path_, absl::StrCat("[", Json(key).dump(), "]"), false);
    Json value;
    if (value_field->type == ScalarType::kMessage) {
      std::string joined;
      LB_RETURN_IF_ERROR(Message(*value_field->message, Join(v, &joined), &value));
    } else if (v.empty()) {
      // gogo makes absent map values their zero value; for []byte a non-nil empty slice.
      value = value_field->type == ScalarType::kBytes ? Json("") : ZeroScalar(value_field->type);
    } else {
      LB_ASSIGN_OR_RETURN(value, Scalar(value_field->type, v.back()));
    }
    (*obj)[key] = std::move(value);  // Go map semantics: the last duplicate key wins
    return absl::OkStatus();
  }

  // The scalar fields of a special type, by number; anything else is an unknown field.
  struct SpecialFields {
    bool has[4] = {false, false, false, false};
    uint64_t num[4] = {0, 0, 0, 0};
    absl::string_view bytes[4];
  };

  absl::Status ReadSpecial(const MessageSchema& m, absl::string_view bytes, SpecialFields* out) {
    std::vector<Occurrences> occ;
    LB_RETURN_IF_ERROR(Collect(m, bytes, &occ));
    for (size_t i = 0; i < m.fields.size(); ++i) {
      int n = m.fields[i].number;
      if (n < 1 || n > 3 || occ[i].empty()) continue;
      out->has[n] = true;
      out->num[n] = occ[i].back().value;
      out->bytes[n] = occ[i].back().bytes;
    }
    return absl::OkStatus();
  }

  absl::Status SpecialMessage(const MessageSchema& m, absl::string_view bytes, Json* out) {
    SpecialFields sf;
    LB_RETURN_IF_ERROR(ReadSpecial(m, bytes, &sf));
    switch (m.special) {
      case Special::kTime: {
        // metav1.Time keeps whole seconds only; empty bytes are the zero time.
        int64_t seconds = static_cast<int64_t>(sf.num[1]);
        if (bytes.empty() || seconds == internal::kGoZeroTimeUnix) {
          *out = nullptr;
        } else {
          *out = internal::FormatTime(seconds);
        }
        return absl::OkStatus();
      }
      case Special::kMicroTime: {
        int64_t seconds = static_cast<int64_t>(sf.num[1]);
        int64_t nanos = static_cast<int32_t>(static_cast<uint32_t>(sf.num[2]));
        bool zero = seconds == internal::kGoZeroTimeUnix && nanos == 0;
        if (bytes.empty() || zero) {
          *out = nullptr;
        } else {
          *out = internal::FormatMicroTime(seconds, nanos);
        }
        return absl::OkStatus();
      }
      case Special::kDuration:
        *out = internal::FormatDuration(static_cast<int64_t>(sf.num[1]));
        return absl::OkStatus();
      case Special::kQuantity: {
        if (!sf.has[1]) {
          *out = "0";  // the zero Quantity
          return absl::OkStatus();
        }
        std::string text(sf.bytes[1]);
        if (!IsQuantity(text)) {
          return Error(absl::StrCat("invalid quantity ", Json(internal::GoString(text)).dump()));
        }
        *out = std::move(text);
        return absl::OkStatus();
      }
      case Special::kIntOrString: {
        int64_t type = static_cast<int64_t>(sf.num[1]);
        if (type == 0) {
          *out = static_cast<int64_t>(static_cast<int32_t>(static_cast<uint32_t>(sf.num[2])));
        } else if (type == 1) {
          *out = internal::GoString(sf.bytes[3]);
        } else {
          return Error(absl::StrCat("IntOrString has impossible type ", type));
        }
        return absl::OkStatus();
      }
      case Special::kRawExtension:
      case Special::kFieldsV1: {
        if (!sf.has[1]) {
          *out = nullptr;
          return absl::OkStatus();
        }
        auto parsed = ParseEmbeddedJson(sf.bytes[1]);
        if (!parsed.ok()) return Error(parsed.status().message());
        *out = std::move(*parsed);
        return absl::OkStatus();
      }
      case Special::kNone:
        break;
    }
    return Error("internal: not a special type");
  }

  // resource.Quantity's grammar: sign, digits with optional fraction, optional suffix
  // (binary Ki..Ei, decimal n u m k M G T P E, or an exponent e/E with an optional sign).
  static bool IsQuantity(absl::string_view s) {
    size_t i = 0;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    size_t digits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++digits;
    if (i < s.size() && s[i] == '.') {
      ++i;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++digits;
    }
    if (digits == 0) return false;
    absl::string_view suffix = s.substr(i);
    if (suffix.empty()) return true;
    static constexpr absl::string_view kSuffixes[] = {"Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u",
                                                      "m",  "k",  "M",  "G",  "T",  "P",  "E"};
    for (absl::string_view k : kSuffixes) {
      if (suffix == k) return true;
    }
    if (suffix[0] == 'e' || suffix[0] == 'E') {
      size_t j = 1;
      if (j < suffix.size() && (suffix[j] == '+' || suffix[j] == '-')) ++j;
      if (j == suffix.size()) return false;
      for (; j < suffix.size(); ++j) {
        if (suffix[j] < '0' || suffix[j] > '9') return false;
      }
      return true;
    }
    return false;
  }

  const RenderOptions& options_;
  std::vector<UnknownField>* unknown_;
  std::string path_;
  int depth_ = 0;
};

}  // namespace

absl::StatusOr<Json> MessageToJson(const MessageSchema& message, absl::string_view bytes,
                                   const RenderOptions& options,
                                   std::vector<UnknownField>* unknown) {
  Renderer renderer(options, unknown);
  Json out;
  LB_RETURN_IF_ERROR(renderer.Message(message, bytes, &out));
  return out;
}

}  // namespace lifeboat::storage
