#include "storage/schema.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/descriptor.pb.h"
#include "k8s/options/json_options.pb.h"

// The descriptor set of proto/k8s/*.proto, generated at build time (k8s_schema_data.cc).
extern "C" const unsigned char lifeboat_k8s_schema_desc[];
extern "C" const unsigned long lifeboat_k8s_schema_desc_size;

namespace lifeboat::storage {
namespace {

using google::protobuf::DescriptorProto;
using google::protobuf::FieldDescriptorProto;

absl::StatusOr<ScalarType> TypeOf(const FieldDescriptorProto& f) {
  switch (f.type()) {
    case FieldDescriptorProto::TYPE_MESSAGE: return ScalarType::kMessage;
    case FieldDescriptorProto::TYPE_STRING: return ScalarType::kString;
    case FieldDescriptorProto::TYPE_BYTES: return ScalarType::kBytes;
    case FieldDescriptorProto::TYPE_BOOL: return ScalarType::kBool;
    case FieldDescriptorProto::TYPE_INT32: return ScalarType::kInt32;
    case FieldDescriptorProto::TYPE_INT64: return ScalarType::kInt64;
    case FieldDescriptorProto::TYPE_UINT32: return ScalarType::kUint32;
    case FieldDescriptorProto::TYPE_UINT64: return ScalarType::kUint64;
    case FieldDescriptorProto::TYPE_SINT32: return ScalarType::kSint32;
    case FieldDescriptorProto::TYPE_SINT64: return ScalarType::kSint64;
    case FieldDescriptorProto::TYPE_FIXED32: return ScalarType::kFixed32;
    case FieldDescriptorProto::TYPE_FIXED64: return ScalarType::kFixed64;
    case FieldDescriptorProto::TYPE_SFIXED32: return ScalarType::kSfixed32;
    case FieldDescriptorProto::TYPE_SFIXED64: return ScalarType::kSfixed64;
    case FieldDescriptorProto::TYPE_FLOAT: return ScalarType::kFloat;
    case FieldDescriptorProto::TYPE_DOUBLE: return ScalarType::kDouble;
    case FieldDescriptorProto::TYPE_ENUM: return ScalarType::kEnum;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("field ", f.name(), " has unsupported type ", f.type()));
  }
}

// Collects `msg` and its nested types under `prefix` (without leading dot).
void Collect(const DescriptorProto& msg, const std::string& prefix,
             std::vector<std::pair<std::string, const DescriptorProto*>>* out) {
  std::string full = prefix.empty() ? msg.name() : absl::StrCat(prefix, ".", msg.name());
  out->emplace_back(full, &msg);
  for (const auto& nested : msg.nested_type()) Collect(nested, full, out);
}

}  // namespace

std::string PackageForApiVersion(absl::string_view api_version) {
  std::vector<absl::string_view> parts = absl::StrSplit(api_version, absl::MaxSplits('/', 1));
  if (parts.size() == 1) return absl::StrCat("k8s.io.api.core.", parts[0]);
  absl::string_view group = parts[0];
  group = group.substr(0, group.find('.'));
  if (group.empty() || group == "core") return "";  // the core group is spelled "v1" alone
  return absl::StrCat("k8s.io.api.", group, ".", parts[1]);
}

absl::StatusOr<std::unique_ptr<Schema>> Schema::FromDescriptorSet(absl::string_view bytes) {
  google::protobuf::FileDescriptorSet set;
  if (!set.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError("schema: descriptor set does not parse");
  }
  auto schema = std::unique_ptr<Schema>(new Schema());
  std::vector<std::pair<std::string, const DescriptorProto*>> all;
  for (const auto& file : set.file()) {
    for (const auto& msg : file.message_type()) Collect(msg, file.package(), &all);
  }
  for (const auto& [full, proto] : all) {
    auto m = std::make_unique<MessageSchema>();
    m->full_name = full;
    m->name = proto->name();
    m->special = static_cast<Special>(proto->options().GetExtension(lifeboat::k8s::special));
    m->object = proto->options().GetExtension(lifeboat::k8s::object);
    m->map_entry = proto->options().map_entry();
    schema->messages_[full] = std::move(m);
  }
  for (const auto& [full, proto] : all) {
    MessageSchema* m = schema->messages_[full].get();
    for (const auto& f : proto->field()) {
      FieldSchema field;
      field.number = f.number();
      field.proto_name = f.name();
      auto type = TypeOf(f);
      if (!type.ok()) return absl::InvalidArgumentError(absl::StrCat(full, ": ", type.status().message()));
      field.type = *type;
      field.repeated = f.label() == FieldDescriptorProto::LABEL_REPEATED;
      const auto& o = f.options();
      field.json = o.GetExtension(lifeboat::k8s::json);
      field.omitempty = o.GetExtension(lifeboat::k8s::omitempty);
      field.omitzero = o.GetExtension(lifeboat::k8s::omitzero);
      field.pointer = o.GetExtension(lifeboat::k8s::pointer);
      field.inline_ = o.GetExtension(lifeboat::k8s::inline_);
      if (field.type == ScalarType::kMessage) {
        absl::string_view target = f.type_name();
        if (!target.empty() && target[0] == '.') target.remove_prefix(1);
        field.message = schema->FindMessage(target);
        if (field.message == nullptr) {
          return absl::InvalidArgumentError(
              absl::StrCat("schema: ", full, ".", f.name(), " references unknown ", target));
        }
        field.is_map = field.repeated && field.message->map_entry;
      }
      if (field.number <= 0 || field.number > 100000) {
        return absl::InvalidArgumentError(absl::StrCat("schema: ", full, " field number ", field.number));
      }
      if (static_cast<size_t>(field.number) >= m->by_number.size()) {
        m->by_number.resize(field.number + 1, -1);
      }
      m->by_number[field.number] = static_cast<int>(m->fields.size());
      m->fields.push_back(std::move(field));
    }
  }
  return schema;
}

const Schema& Schema::Embedded() {
  static const Schema* schema = [] {
    auto s = FromDescriptorSet(absl::string_view(
        reinterpret_cast<const char*>(lifeboat_k8s_schema_desc), lifeboat_k8s_schema_desc_size));
    if (!s.ok()) {
      std::cerr << "lifeboat: embedded Kubernetes schema is broken: " << s.status() << "\n";
      std::abort();
    }
    return s->release();
  }();
  return *schema;
}

const MessageSchema* Schema::FindMessage(absl::string_view full_name) const {
  auto it = messages_.find(full_name);
  return it == messages_.end() ? nullptr : it->second.get();
}

const MessageSchema* Schema::FindObject(absl::string_view api_version, absl::string_view kind) const {
  if (api_version.empty() || kind.empty()) return nullptr;
  std::string package = PackageForApiVersion(api_version);
  if (package.empty()) return nullptr;
  const MessageSchema* m = FindMessage(absl::StrCat(package, ".", kind));
  return m != nullptr && m->object ? m : nullptr;
}

std::vector<std::string> Schema::ObjectKinds() const {
  std::vector<std::string> out;
  for (const auto& [full, m] : messages_) {
    if (!m->object) continue;
    // k8s.io.api.<group>.<version>.<Kind>
    std::vector<std::string> parts = absl::StrSplit(full, '.');
    if (parts.size() < 6) continue;
    const std::string& group = parts[3];
    const std::string& version = parts[4];
    std::string group_version = group == "core" ? version : absl::StrCat(group, "/", version);
    out.push_back(absl::StrCat(group_version, " ", m->name));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace lifeboat::storage
