#include "storage/decode.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status.h"
#include "storage/go_json.h"
#include "storage/proto_json.h"
#include "storage/schema.h"
#include "storage/wire.h"

namespace lifeboat::storage {
namespace {

constexpr absl::string_view kProtobufContentType = "application/vnd.kubernetes.protobuf";

absl::Status KeyError(absl::string_view etcd_key, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat("etcd key ", etcd_key, ": ", s.message()));
}

// Reads runtime.TypeMeta { apiVersion = 1, kind = 2 }.
absl::Status ParseTypeMeta(absl::string_view bytes, Envelope* out) {
  wire::Reader r(bytes);
  while (!r.done()) {
    wire::Field f;
    LB_RETURN_IF_ERROR(r.Next(&f));
    if ((f.number == 1 || f.number == 2) && f.wire_type == wire::kLength) {
      (f.number == 1 ? out->api_version : out->kind) = internal::GoString(f.bytes);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unexpected <field ", f.number,
                                                     "> (wire type ", f.wire_type,
                                                     ") in the envelope's typeMeta"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Decoded> DecodeProtobuf(absl::string_view etcd_key, absl::string_view value,
                                       const DecodeOptions& options) {
  auto envelope = ParseEnvelope(value);
  if (!envelope.ok()) return KeyError(etcd_key, envelope.status());
  const Schema& schema = Schema::Embedded();
  const MessageSchema* message = schema.FindObject(envelope->api_version, envelope->kind);
  if (message == nullptr) {
    return absl::UnimplementedError(absl::StrCat(
        "etcd key ", etcd_key, ": holds apiVersion ", Json(envelope->api_version).dump(),
        " kind ", Json(envelope->kind).dump(), ", which Lifeboat cannot decode (it decodes ",
        absl::StrJoin(schema.ObjectKinds(), ", "), ")"));
  }
  RenderOptions render;
  render.drop_unknown_fields = !options.strict;
  render.omitzero = options.omitzero;
  std::vector<UnknownField> unknown;
  auto object = MessageToJson(*message, envelope->raw, render, &unknown);
  if (!object.ok()) {
    return absl::Status(object.status().code(),
                        absl::StrCat("etcd key ", etcd_key, " (", envelope->api_version, " ",
                                     envelope->kind, "): ", object.status().message()));
  }
  Decoded out;
  out.object = *std::move(object);
  out.object["apiVersion"] = envelope->api_version;
  out.object["kind"] = envelope->kind;
  for (auto& u : unknown) {
    out.dropped.push_back(DroppedField{std::string(etcd_key),
                                       absl::StrCat(envelope->api_version, " ", envelope->kind),
                                       std::move(u)});
  }
  return out;
}

absl::StatusOr<Json> DecodeJson(absl::string_view etcd_key, absl::string_view value) {
  if (internal::JsonNestingDepth(value) > 10000) {
    return absl::InvalidArgumentError(absl::StrCat("etcd key ", etcd_key, ": JSON nests too deeply"));
  }
  Json object = Json::parse(value.begin(), value.end(), nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded()) {
    return absl::InvalidArgumentError(
        absl::StrCat("etcd key ", etcd_key, ": value starts like JSON but does not parse"));
  }
  if (!object.is_object() || !object.contains("apiVersion") || !object["apiVersion"].is_string() ||
      !object.contains("kind") || !object["kind"].is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "etcd key ", etcd_key, ": JSON value is not a Kubernetes object (no apiVersion/kind)"));
  }
  return object;
}

}  // namespace

static absl::StatusOr<Decoded> DecodeUnrevised(absl::string_view etcd_key, absl::string_view value,
                                        const Transformer* transformer,
                                        const DecodeOptions& options);

absl::StatusOr<Envelope> ParseEnvelope(absl::string_view value) {
  if (!absl::StartsWith(value, kProtobufMagic)) {
    return absl::InvalidArgumentError("not a protobuf value (no k8s\\0 magic)");
  }
  Envelope env;
  bool has_raw = false;
  std::string content_encoding, content_type;
  wire::Reader r(value.substr(kProtobufMagic.size()));
  while (!r.done()) {
    wire::Field f;
    if (absl::Status s = r.Next(&f); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("corrupted storage envelope: ", s.message()));
    }
    if (f.wire_type != wire::kLength || f.number > 4) {
      return absl::InvalidArgumentError(absl::StrCat("corrupted storage envelope: unexpected <field ",
                                                     f.number, "> (wire type ", f.wire_type, ")"));
    }
    switch (f.number) {
      case 1:
        if (absl::Status s = ParseTypeMeta(f.bytes, &env); !s.ok()) {
          return absl::InvalidArgumentError(absl::StrCat("corrupted storage envelope: ", s.message()));
        }
        break;
      case 2:
        env.raw = f.bytes;
        has_raw = true;
        break;
      case 3:
        content_encoding = std::string(f.bytes);
        break;
      case 4:
        content_type = std::string(f.bytes);
        break;
    }
  }
  if (env.api_version.empty() || env.kind.empty()) {
    return absl::InvalidArgumentError("storage envelope names no apiVersion/kind");
  }
  if (!has_raw) return absl::InvalidArgumentError("storage envelope holds no object");
  if (!content_encoding.empty()) {
    return absl::UnimplementedError(absl::StrCat("storage envelope has content encoding ",
                                                 Json(internal::GoString(content_encoding)).dump()));
  }
  if (!content_type.empty() && content_type != kProtobufContentType) {
    return absl::UnimplementedError(absl::StrCat("storage envelope has content type ",
                                                 Json(internal::GoString(content_type)).dump()));
  }
  return env;
}

std::string DroppedField::Message() const {
  return absl::StrCat("etcd key ", etcd_key, " (", object, "): field ", field.number, " at ",
                      field.path, " (wire type ", field.wire_type, ", in ", field.message, ") ",
                      field.known_number ? "has a wire type Lifeboat's schema does not expect"
                                         : "is unknown to Lifeboat's schema",
                      " (Kubernetes 1.16 to 1.36): dropped, the output lacks it");
}

absl::StatusOr<Decoded> DecodeObject(absl::string_view etcd_key, absl::string_view value,
                                     const Transformer* transformer,
                                     std::optional<int64_t> mod_revision,
                                     const DecodeOptions& options) {
  LB_ASSIGN_OR_RETURN(Decoded decoded, DecodeUnrevised(etcd_key, value, transformer, options));
  Json& object = decoded.object;
  if (mod_revision.has_value() && object.contains("metadata") && object["metadata"].is_object()) {
    object["metadata"]["resourceVersion"] = absl::StrCat(*mod_revision);
  }
  return decoded;
}

absl::StatusOr<Json> DecodeValue(absl::string_view etcd_key, absl::string_view value,
                                 const Transformer* transformer) {
  LB_ASSIGN_OR_RETURN(Decoded d, DecodeObject(etcd_key, value, transformer, std::nullopt,
                                              DecodeOptions{.strict = true, .omitzero = false}));
  return std::move(d.object);
}

absl::StatusOr<Decoded> DecodeUnrevised(absl::string_view etcd_key, absl::string_view value,
                                        const Transformer* transformer,
                                        const DecodeOptions& options) {
  std::string plaintext;
  bool encrypted = absl::StartsWith(value, "k8s:enc:");
  if (transformer != nullptr) {
    LB_ASSIGN_OR_RETURN(plaintext, transformer->Decrypt(etcd_key, value));
    value = plaintext;
  } else if (encrypted) {
    // "k8s:enc:<provider>:v1:<key name>:" names what is needed; the rest is ciphertext.
    size_t end = 8;
    for (int colons = 0; colons < 3 && end != absl::string_view::npos; ++colons) {
      end = value.find(':', end);
      if (end != absl::string_view::npos) ++end;
    }
    std::string marker(value.substr(0, std::min(end, size_t{80})));
    return absl::FailedPreconditionError(absl::StrCat(
        "etcd key ", etcd_key, ": value is encrypted at rest (",
        Json(internal::GoString(marker)).dump(),
        "); pass the API server's --encryption-provider-config file"));
  }
  if (absl::StartsWith(value, kProtobufMagic)) return DecodeProtobuf(etcd_key, value, options);
  absl::string_view trimmed = value;
  while (!trimmed.empty() && (trimmed[0] == ' ' || trimmed[0] == '\t' || trimmed[0] == '\r' ||
                              trimmed[0] == '\n')) {
    trimmed.remove_prefix(1);
  }
  if (absl::StartsWith(trimmed, "{")) {
    LB_ASSIGN_OR_RETURN(Json object, DecodeJson(etcd_key, value));
    return Decoded{std::move(object), {}};
  }
  if (absl::StartsWith(value, "k8s:enc:")) {
    return absl::InvalidArgumentError(
        absl::StrCat("etcd key ", etcd_key, ": value is still encrypted after decryption"));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "etcd key ", etcd_key, ": ", value.size(), "-byte value is neither protobuf (k8s\\0), JSON ",
      "nor encrypted (k8s:enc:)", encrypted ? " after decryption" : "",
      "; YAML storage (--storage-media-type=application/yaml) is not supported"));
}

absl::StatusOr<Json> DecodeValue(absl::string_view etcd_key, absl::string_view value,
                                 const Transformer* transformer, int64_t mod_revision) {
  LB_ASSIGN_OR_RETURN(Decoded d, DecodeObject(etcd_key, value, transformer, mod_revision,
                                              DecodeOptions{.strict = true, .omitzero = false}));
  return std::move(d.object);
}

}  // namespace lifeboat::storage
