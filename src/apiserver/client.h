// HTTPS client for the Kubernetes API server, configured from a kubeconfig. TLS is verified
// against the kubeconfig's CA (or the system store) unless the kubeconfig itself says
// insecure-skip-tls-verify. API errors become Status carrying the API server's own message, with
// the project's one HTTP status map (base/http_status.h): timeout/5xx/429 -> Unavailable (worth
// retrying), 401 -> Unauthenticated, 403 -> PermissionDenied, 404 -> NotFound, 409 ->
// AlreadyExists, 410 -> OutOfRange, 400/422 -> InvalidArgument, other 4xx -> FailedPrecondition.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "kube/codec.h"
#include "kube/kubeconfig.h"
#include "kube/names.h"

namespace lifeboat::apiserver {

using kube::Json;

struct ClientOptions {
  std::chrono::milliseconds timeout{30000};
  std::chrono::milliseconds connect_timeout{5000};
  std::string user_agent = "lifeboat";
};

class Client {
 public:
  static absl::StatusOr<std::unique_ptr<Client>> Create(const kube::Kubeconfig& config,
                                                        ClientOptions options = {});
  ~Client();

  // GET `path` (e.g. "/api/v1/namespaces/kube-system/secrets/foo") as JSON.
  absl::StatusOr<Json> Get(absl::string_view path);
  // POST a JSON body; returns the created object.
  absl::StatusOr<Json> Post(absl::string_view path, const Json& body);
  // DELETE; returns the API server's answer.
  absl::StatusOr<Json> Delete(absl::string_view path);
  // GET returning the raw body (e.g. /healthz).
  absl::StatusOr<std::string> GetRaw(absl::string_view path);

  // Lists a collection page by page (`limit` items per request), calling `each` for every item
  // so that memory stays bounded whatever the collection's size. `query` is appended
  // (e.g. "labelSelector=..."). Stops at the first error `each` returns.
  absl::Status List(absl::string_view path, absl::string_view query, int limit,
                    const std::function<absl::Status(Json&& item)>& each);

  const std::string& server() const { return server_; }

 private:
  Client() = default;
  absl::StatusOr<std::string> Do(absl::string_view method, absl::string_view path,
                                 const std::string* body, long* http_code);
  absl::StatusOr<Json> DoJson(absl::string_view method, absl::string_view path, const Json* body);

  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string server_;
};

// Percent-escapes a query value (kept here for the callers of this module).
using kube::QueryEscape;

}  // namespace lifeboat::apiserver
