// The one mapping of an HTTP status code to an absl::StatusCode, for every HTTP client of the
// project (the libcurl API client, the lean checkpointer's API and kubelet clients). Header-only,
// absl only: the lean binary includes it without curl or protobuf.
//
//   2xx            OK
//   400, 422       InvalidArgument    the request itself is wrong; retrying will not help
//   401            Unauthenticated    the credentials were not accepted
//   403            PermissionDenied   authenticated, but RBAC says no
//   404            NotFound
//   405, 501       Unimplemented      the server does not do this at all
//   408, 429, 5xx  Unavailable        timeout, throttled, overloaded or down: retry later. 429 is
//                                     "come back later" (the API server's priority and fairness
//                                     and max-inflight limits), not a quota that stays exhausted,
//                                     so it is retried like a 503.
//   409            AlreadyExists      a create met an existing object (or an update a conflict)
//   410            OutOfRange         "Gone": a watch's or list's resourceVersion was compacted
//                                     away (etcd's own API says OutOfRange for a compacted
//                                     revision). A watch relists on it; see IsGone(). An expired
//                                     watch usually answers 200, then sends an ERROR event whose
//                                     object is a Status with "code": 410: map that code here too.
//   anything else  FailedPrecondition
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace lifeboat {

inline absl::StatusCode HttpStatusCode(long http_code) {
  if (http_code >= 200 && http_code < 300) return absl::StatusCode::kOk;
  switch (http_code) {
    case 400:
    case 422:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 405:
    case 501:
      return absl::StatusCode::kUnimplemented;
    case 408:
    case 429:
      return absl::StatusCode::kUnavailable;
    case 409:
      return absl::StatusCode::kAlreadyExists;
    case 410:
      return absl::StatusCode::kOutOfRange;
    default:
      if (http_code >= 500 && http_code <= 599) return absl::StatusCode::kUnavailable;
      return absl::StatusCode::kFailedPrecondition;
  }
}

// A non-2xx answer as a Status with HttpStatusCode's code and `message` (which should name the
// request and say what the server said). OK for 2xx.
inline absl::Status HttpError(long http_code, absl::string_view message) {
  absl::StatusCode code = HttpStatusCode(http_code);
  if (code == absl::StatusCode::kOk) return absl::OkStatus();
  return absl::Status(code, message);
}

// Whether `status` is an HTTP 410 Gone as mapped above: a watch's resourceVersion is too old.
inline bool IsGone(const absl::Status& status) {
  return status.code() == absl::StatusCode::kOutOfRange;
}

}  // namespace lifeboat
