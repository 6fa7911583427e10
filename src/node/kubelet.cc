#include "node/kubelet.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/http_status.h"
#include "base/status.h"

namespace lifeboat::node {
namespace {

absl::Status KubeletHttpError(long code, const std::string& url, absl::string_view body) {
  std::string text = absl::StrCat("kubelet ", url, ": HTTP ", code, ": ",
                                  absl::StripAsciiWhitespace(body.substr(0, 200)));
  if (code == 401) absl::StrAppend(&text, " (the kubelet did not accept the kubeconfig's credentials)");
  if (code == 403) absl::StrAppend(&text, " (the checkpointer's identity needs `get` on nodes/proxy)");
  return HttpError(code, text);
}

}  // namespace

KubeletClient::~KubeletClient() = default;

absl::StatusOr<std::unique_ptr<KubeletClient>> KubeletClient::Create(const KubeletOptions& options,
                                                                     const kube::Kubeconfig* credentials) {
  if (options.secure_port == 0 && options.read_only_port == 0) {
    return absl::InvalidArgumentError("both kubelet ports are disabled");
  }
  std::unique_ptr<KubeletClient> c(new KubeletClient());
  c->options_ = options;
  std::string host = options.host.find(':') != std::string::npos ? absl::StrCat("[", options.host, "]")
                                                                 : options.host;
  internal::HttpGetOptions o;
  o.timeout = options.timeout;
  o.headers = {"Accept: application/json"};
  if (options.read_only_port != 0) {
    LB_ASSIGN_OR_RETURN(c->read_only_, internal::HttpGet::Create(
                                           absl::StrCat("http://", host, ":", options.read_only_port, "/pods"), o));
  }
  if (options.secure_port != 0) {
    // The kubelet's serving certificate is self-signed unless the cluster set one up.
    o.verify_tls = false;
    if (credentials != nullptr) {
      o.cert_pem = credentials->client_cert_pem;
      o.key_pem = credentials->client_key_pem;
      o.token = credentials->token;
    }
    LB_ASSIGN_OR_RETURN(c->secure_, internal::HttpGet::Create(
                                        absl::StrCat("https://", host, ":", options.secure_port, "/pods"), o));
  }
  return c;
}

absl::StatusOr<absl::string_view> KubeletClient::Get(internal::HttpGet& e) {
  long code = 0;
  auto body = e.Fetch(&code);
  if (!body.ok()) return absl::Status(body.status().code(), absl::StrCat("kubelet ", body.status().message()));
  if (code < 200 || code >= 300) return KubeletHttpError(code, e.url(), *body);
  last_url_ = e.url();
  return body;
}

absl::StatusOr<absl::string_view> KubeletClient::GetPods() {
  auto now = std::chrono::steady_clock::now();
  bool try_secure = secure_ && (!secure_failed_ || !read_only_ ||
                                now - secure_failed_at_ >= options_.secure_retry);
  absl::Status secure_error;
  if (try_secure) {
    auto body = Get(*secure_);
    if (body.ok()) {
      secure_failed_ = false;
      return body;
    }
    secure_error = body.status();
    secure_failed_ = true;
    secure_failed_at_ = now;
  }
  if (!read_only_) return secure_error;
  auto body = Get(*read_only_);
  if (body.ok()) return body;
  if (!secure_) return body.status();
  if (secure_error.ok()) {
    // The secure port was skipped (it failed recently); try it again before giving up.
    auto again = Get(*secure_);
    if (again.ok()) {
      secure_failed_ = false;
      return again;
    }
    secure_error = again.status();
  }
  return absl::Status(secure_error.code(),
                      absl::StrCat(secure_error.message(), "; read-only port: ", body.status().message()));
}

}  // namespace lifeboat::node
