// Internal to src/node: a GET of one URL, repeated tick after tick on one curl handle so that
// the connection (and TLS session) and the receive buffer are reused.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lifeboat::node::internal {

struct HttpGetOptions {
  std::chrono::milliseconds timeout{10000};
  bool verify_tls = true;
  std::string ca_pem;  // empty: the system's trust store
  std::string cert_pem, key_pem;
  std::string token;
  std::vector<std::string> headers;
  std::string user_agent = "lifeboat-checkpointer";
};

class HttpGet {
 public:
  static absl::StatusOr<std::unique_ptr<HttpGet>> Create(std::string url, HttpGetOptions options);
  ~HttpGet();

  // Performs the GET. A transport failure is Unavailable (message naming the URL); otherwise the
  // status code and the body, valid until the next call.
  absl::StatusOr<absl::string_view> Fetch(long* http_code);
  const std::string& url() const { return url_; }

 private:
  HttpGet() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string url_;
};

}  // namespace lifeboat::node::internal
