#include "kube/names.h"

#include <cctype>

#include "absl/strings/str_cat.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"

namespace lifeboat::kube {
namespace {

bool IsDns(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'; }
bool IsKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

}  // namespace

absl::Status ValidateObjectName(absl::string_view what, absl::string_view name) {
  bool ok = !name.empty() && name.size() <= 253 && name != "." && name != "..";
  for (char c : name) ok = ok && IsDns(c);
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "refusing ", what, " name \"", absl::CHexEscape(name),
      "\": not a valid Kubernetes name (lower-case letters, digits, '-' and '.')"));
}

absl::Status ValidateDataKey(absl::string_view key) {
  bool ok = !key.empty() && key.size() <= 253 && key != "." && key != "..";
  for (char c : key) ok = ok && IsKeyChar(c);
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "refusing data key \"", absl::CHexEscape(key),
      "\": keys may only hold letters, digits, '-', '_' and '.', and may not be '.' or '..'"));
}

absl::Status ValidateRelativePath(absl::string_view path) {
  if (path.empty() || path.front() == '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("refusing path \"", absl::CHexEscape(path), "\": must be relative"));
  }
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (!ValidateDataKey(part).ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "refusing path \"", absl::CHexEscape(path), "\": component \"", absl::CHexEscape(part),
          "\" is not a plain file name"));
    }
  }
  return absl::OkStatus();
}

std::string QueryEscape(absl::string_view value) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace lifeboat::kube
