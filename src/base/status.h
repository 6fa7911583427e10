// Status propagation for Lifeboat. Every module boundary returns absl::Status or
// absl::StatusOr<T>; these macros keep the happy path readable (Debian's abseil has no
// status_macros.h, so we carry our own).
#pragma once

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

#define LB_CONCAT_INNER(a, b) a##b
#define LB_CONCAT(a, b) LB_CONCAT_INNER(a, b)

// Returns from the enclosing function if `expr` (a Status) is not OK.
#define LB_RETURN_IF_ERROR(expr)                 \
  do {                                           \
    ::absl::Status lb_status_ = (expr);          \
    if (!lb_status_.ok()) return lb_status_;     \
  } while (0)

// `LB_ASSIGN_OR_RETURN(auto x, F());` declares x from a StatusOr or returns its error.
#define LB_ASSIGN_OR_RETURN(lhs, expr) \
  LB_ASSIGN_OR_RETURN_IMPL(LB_CONCAT(lb_statusor_, __LINE__), lhs, expr)
#define LB_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return std::move(tmp).status(); \
  lhs = std::move(tmp).value()

namespace lifeboat {

// Returns `status` with `context: ` put in front of its message, keeping the code.
inline absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

}  // namespace lifeboat
