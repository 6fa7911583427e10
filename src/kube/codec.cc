#include "kube/codec.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cmath>
#include <cerrno>
#include <cstdlib>
#include <limits>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace lifeboat::kube {
namespace {

// Scanners for the scalar forms below, one pass each: no std::regex, whose libstdc++ matcher
// recurses once per character and overflows the stack on a long value.
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsOctal(char c) { return c >= '0' && c <= '7'; }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool IsAsciiAlnum(char c) { return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// True when s[from..] is not empty and every character satisfies `pred`.
template <typename Pred>
bool AllFrom(absl::string_view s, size_t from, Pred pred) {
  if (from >= s.size()) return false;
  for (size_t i = from; i < s.size(); ++i) {
    if (!pred(s[i])) return false;
  }
  return true;
}

// [-+]?(0b[01_]+|0o?[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*)
bool LooksLikeInt(absl::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  if (s.empty()) return false;
  auto binary = [](char c) { return c == '0' || c == '1' || c == '_'; };
  auto octal = [](char c) { return IsOctal(c) || c == '_'; };
  auto hex = [](char c) { return IsHex(c) || c == '_'; };
  auto decimal = [](char c) { return IsDigit(c) || c == '_'; };
  if (absl::StartsWith(s, "0b") && AllFrom(s, 2, binary)) return true;
  if (absl::StartsWith(s, "0x") && AllFrom(s, 2, hex)) return true;
  if (s[0] == '0' && (AllFrom(s, 1, octal) || (s.size() > 1 && s[1] == 'o' && AllFrom(s, 2, octal)))) {
    return true;
  }
  return IsDigit(s[0]) && (s.size() == 1 || AllFrom(s, 1, decimal));
}

// [-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?
bool LooksLikeFloat(absl::string_view s) {
  size_t i = 0, n = s.size();
  auto skip = [&](auto pred) {
    size_t from = i;
    while (i < n && pred(s[i])) ++i;
    return i - from;
  };
  auto decimal = [](char c) { return IsDigit(c) || c == '_'; };
  if (i < n && (s[i] == '-' || s[i] == '+')) ++i;
  if (i < n && s[i] == '.') {
    ++i;
    if (skip(IsDigit) == 0) return false;
  } else if (i < n && IsDigit(s[i])) {
    skip(decimal);
    if (i < n && s[i] == '.') {
      ++i;
      skip(decimal);
    }
  } else {
    return false;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '-' || s[i] == '+')) ++i;
    if (skip(IsDigit) == 0) return false;
  }
  return i == n;
}

// Written without quotes when nothing else says otherwise: [A-Za-z0-9_/][A-Za-z0-9_./=+-]*
bool LooksPlain(absl::string_view s) {
  if (s.empty() || !(IsAsciiAlnum(s[0]) || s[0] == '_' || s[0] == '/')) return false;
  for (char c : s.substr(1)) {
    if (!(IsAsciiAlnum(c) || c == '_' || c == '.' || c == '/' || c == '=' || c == '+' || c == '-')) {
      return false;
    }
  }
  return true;
}

// Resolution of a plain (unquoted) scalar the way Kubernetes' YAML reader (go-yaml v2, YAML 1.1)
// does it: "0400" is octal, yes/no/on/off are booleans, "_" may group digits.
Json ResolvePlainScalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  static const std::set<std::string> kTrue = {"y", "Y", "yes", "Yes", "YES", "true", "True",
                                              "TRUE", "on", "On", "ON"};
  static const std::set<std::string> kFalse = {"n", "N", "no", "No", "NO", "false", "False",
                                               "FALSE", "off", "Off", "OFF"};
  if (kTrue.count(s)) return true;
  if (kFalse.count(s)) return false;
  if (LooksLikeInt(s)) {
    std::string digits;
    for (char c : s) {
      if (c != '_') digits += c;
    }
    bool neg = digits[0] == '-';
    size_t pos = (digits[0] == '-' || digits[0] == '+') ? 1 : 0;
    int base = 10;
    if (digits.compare(pos, 2, "0b") == 0) {
      base = 2, pos += 2;
    } else if (digits.compare(pos, 2, "0x") == 0) {
      base = 16, pos += 2;
    } else if (digits.compare(pos, 2, "0o") == 0) {
      base = 8, pos += 2;
    } else if (digits.size() > pos + 1 && digits[pos] == '0') {
      base = 8, pos += 1;
    }
    errno = 0;
    char* end = nullptr;
    unsigned long long u = std::strtoull(digits.c_str() + pos, &end, base);
    if (errno == 0 && end && *end == '\0' && pos < digits.size()) {
      if (!neg && u <= static_cast<unsigned long long>(std::numeric_limits<int64_t>::max())) {
        return static_cast<int64_t>(u);
      }
      if (neg && u <= static_cast<unsigned long long>(std::numeric_limits<int64_t>::max()) + 1) {
        return static_cast<int64_t>(0 - u);
      }
      if (!neg) return static_cast<uint64_t>(u);
    }
  }
  if (LooksLikeFloat(s)) {
    std::string digits;
    for (char c : s) {
      if (c != '_') digits += c;
    }
    double d;
    if (absl::SimpleAtod(digits, &d)) return d;
  }
  if (s == ".inf" || s == "+.inf" || s == ".Inf") return std::numeric_limits<double>::infinity();
  if (s == "-.inf" || s == "-.Inf") return -std::numeric_limits<double>::infinity();
  return s;
}

absl::StatusOr<Json> FromYamlNode(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return Json(nullptr);
    case YAML::NodeType::Scalar:
      // yaml-cpp tags quoted scalars "!" and leaves plain ones "?".
      if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") return Json(node.Scalar());
      if (node.Tag() == "tag:yaml.org,2002:binary") return Json(node.Scalar());
      return ResolvePlainScalar(node.Scalar());
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const auto& item : node) {
        auto v = FromYamlNode(item);
        if (!v.ok()) return v;
        out.push_back(*std::move(v));
      }
      return out;
    }
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "line ", kv.first.Mark().line + 1, ": mapping keys must be scalars"));
        }
        auto v = FromYamlNode(kv.second);
        if (!v.ok()) return v;
        out[kv.first.Scalar()] = *std::move(v);
      }
      return out;
    }
  }
  return absl::InternalError("unknown YAML node type");
}

bool NeedsQuotes(const std::string& s) {
  if (s.empty()) return true;
  // Anything the resolver would not give back as this very string must be quoted.
  Json resolved = ResolvePlainScalar(s);
  if (!resolved.is_string()) return true;
  if (!LooksPlain(s)) return true;
  // YAML 1.1 readers (older tools) take these as booleans; quote them for everyone.
  std::string lower = absl::AsciiStrToLower(s);
  static const char* kAmbiguous[] = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"};
  for (const char* a : kAmbiguous) {
    if (lower == a) return true;
  }
  return false;
}

std::string Scalar(const Json& v) {
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    return NeedsQuotes(s) ? v.dump(-1, ' ', false, Json::error_handler_t::replace) : s;
  }
  if (v.is_null()) return "null";
  return v.dump();
}

void EmitYaml(const Json& v, int indent, std::string& out);

void EmitValueAfterKey(const Json& v, int indent, std::string& out) {
  if (v.is_object() && !v.empty()) {
    out += "\n";
    EmitYaml(v, indent + 2, out);
  } else if (v.is_array() && !v.empty()) {
    out += "\n";
    EmitYaml(v, indent, out);  // sequences under a key stay at the key's indent
  } else if (v.is_object()) {
    out += " {}\n";
  } else if (v.is_array()) {
    out += " []\n";
  } else {
    out += " " + Scalar(v) + "\n";
  }
}

void EmitYaml(const Json& v, int indent, std::string& out) {
  std::string pad(indent, ' ');
  if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      out += pad + Scalar(Json(it.key())) + ":";
      EmitValueAfterKey(it.value(), indent, out);
    }
  } else if (v.is_array()) {
    for (const auto& item : v) {
      if (item.is_object() && !item.empty()) {
        // First key on the dash line, the rest aligned under it.
        std::string nested;
        EmitYaml(item, indent + 2, nested);
        out += pad + "- " + nested.substr(indent + 2);
      } else if (item.is_array() && !item.empty()) {
        out += pad + "-\n";
        EmitYaml(item, indent + 2, out);
      } else {
        out += pad + "- " + (item.is_object() ? "{}" : item.is_array() ? "[]" : Scalar(item)) + "\n";
      }
    }
  } else {
    out += pad + Scalar(v) + "\n";
  }
}

}  // namespace

absl::StatusOr<Json> ParseJson(absl::string_view text) {
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid JSON: ", e.what()));
  }
}

absl::StatusOr<std::vector<Json>> ParseDocuments(absl::string_view text) {
  std::vector<Json> docs;
  try {
    for (const YAML::Node& node : YAML::LoadAll(std::string(text))) {
      auto doc = FromYamlNode(node);
      if (!doc.ok()) return doc.status();
      if (doc->is_null()) continue;
      docs.push_back(*std::move(doc));
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid YAML at line ", e.mark.line + 1,
                                                   ", column ", e.mark.column + 1, ": ", e.msg));
  }
  return docs;
}

std::string ToYaml(const Json& value) {
  std::string out;
  if (value.is_object() && value.empty()) return "{}\n";
  if (value.is_array() && value.empty()) return "[]\n";
  EmitYaml(value, 0, out);
  return out;
}

std::string ToPrettyJson(const Json& value) {
  return value.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace lifeboat::kube
