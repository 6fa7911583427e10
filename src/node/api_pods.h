// What the checkpointer reads from the API server. ApiPodLister: the API server's view of the pods
// of one namespace bound to this node, every tick, as cheaply as the API server can answer:
// `resourceVersion=0` (served from its watch cache: no etcd read) and metadata only
// (PartialObjectMetadataList, a fraction of the bytes of whole pods; API servers that do not know
// it answer with whole pods, which parse the same way).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kube/kubeconfig.h"
#include "node/http_get.h"

namespace lifeboat::node {

class ApiPodLister {
 public:
  static absl::StatusOr<std::unique_ptr<ApiPodLister>> Create(const kube::Kubeconfig& config,
                                                              const std::string& ns,
                                                              const std::string& node_name,
                                                              std::chrono::milliseconds timeout);
  ~ApiPodLister();

  // The list as JSON text (no buffer is kept for it: lists are rare, the watch follows them).
  // Errors (base/http_status.h): Unavailable (unreachable, timeout, 5xx, 429), Unauthenticated
  // (401), PermissionDenied (403: the Role needs list on pods), others as mapped there.
  absl::StatusOr<std::string> List();

  // The request's path and query, for tests.
  static std::string Path(const std::string& ns, const std::string& node_name);

 private:
  ApiPodLister() = default;
  std::unique_ptr<internal::HttpGet> get_;
};

// A watch of the same pods (list with ApiPodLister, then watch from the list's resourceVersion):
// `watch=1&resourceVersion=<rv>&allowWatchBookmarks=true&timeoutSeconds=<n>`, whole pods, on a
// connection of its own.
class ApiPodWatch {
 public:
  static absl::StatusOr<std::unique_ptr<ApiPodWatch>> Create(const kube::Kubeconfig& config,
                                                             const std::string& ns,
                                                             const std::string& node_name,
                                                             std::chrono::milliseconds timeout);
  ~ApiPodWatch();

  // Streams the events after `resource_version`, each line (one JSON event) to `on_event`, until
  // the server ends the watch after `server_timeout` (OK: watch again from the last
  // resourceVersion seen). `on_connected` is called once the server accepted the watch (200).
  // A connection that dies without a word is noticed in bounded time, each Unavailable: no
  // status line within the `timeout` given to Create (connect and handshake included); then no
  // byte for `idle` (API servers since 1.20 send a bookmark about once a minute); or the watch
  // still open `idle` after the server should have ended it. Errors: as ApiPodLister::List, 410
  // Gone as OutOfRange (relist), Cancelled after Cancel(), or on_event's error.
  absl::Status Watch(const std::string& resource_version, std::chrono::seconds server_timeout,
                     std::chrono::milliseconds idle, const std::function<void()>& on_connected,
                     const std::function<absl::Status(absl::string_view event)>& on_event);

  // From any thread: ends a Watch in progress, and every later one, with Cancelled.
  void Cancel();

  static std::string Path(const std::string& ns, const std::string& node_name,
                          const std::string& resource_version, std::chrono::seconds server_timeout);

 private:
  ApiPodWatch() = default;
  std::string ns_, node_name_;
  std::chrono::milliseconds timeout_{0};
  std::unique_ptr<internal::HttpGet> get_;
};

// Secrets and ConfigMaps of one namespace, read by name on one kept-alive connection (a
// checkpoint's volumes and env references; re-read every --refresh-period).
class ApiObjectReader {
 public:
  static absl::StatusOr<std::unique_ptr<ApiObjectReader>> Create(const kube::Kubeconfig& config,
                                                                 const std::string& ns,
                                                                 std::chrono::milliseconds timeout);
  ~ApiObjectReader();

  // GET /api/v1/namespaces/<ns>/<resource>/<name>?resourceVersion=0 (from the API server's
  // cache) as JSON text, valid until the next call. `resource` is "secrets" or "configmaps".
  // Errors as ApiPodLister::List, plus NotFound (404) when the object does not exist.
  absl::StatusOr<absl::string_view> Get(absl::string_view resource, absl::string_view name);

  // POST /api/v1/namespaces/<ns>/serviceaccounts/<sa>/token with `request_json` (a TokenRequest):
  // the answer's JSON text (201), valid until the next call. Errors as Get.
  absl::StatusOr<absl::string_view> RequestToken(absl::string_view service_account, absl::string_view request_json);

 private:
  ApiObjectReader() = default;
  std::string ns_;
  std::unique_ptr<internal::HttpGet> get_;
};

}  // namespace lifeboat::node
