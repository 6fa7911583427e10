#include "node/kubelet.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/http_status.h"
#include "base/status.h"

namespace lifeboat::node {
namespace {

absl::Status KubeletHttpError(long code, const std::string& url, absl::string_view body,
                              bool token_withheld) {
  std::string text = absl::StrCat("kubelet ", url, ": HTTP ", code, ": ",
                                  absl::StripAsciiWhitespace(body.substr(0, 200)));
  if (code == 401 && token_withheld) {
    absl::StrAppend(
        &text,
        " (the kubeconfig's bearer token is not sent over a connection whose certificate cannot be "
        "verified: give --kubelet-certificate-authority, or a kubeconfig with a client "
        "certificate)");
  } else if (code == 401) {
    absl::StrAppend(&text, " (the kubelet did not accept the kubeconfig's credentials)");
  }
  if (code == 403)
    absl::StrAppend(&text, " (the checkpointer's identity needs `get` on nodes/proxy)");
  return HttpError(code, text);
}

}  // namespace

KubeletClient::~KubeletClient() = default;

absl::StatusOr<std::unique_ptr<KubeletClient>> KubeletClient::Create(
    const KubeletOptions& options, const kube::Kubeconfig* credentials) {
  if (options.secure_port == 0 && options.read_only_port == 0) {
    return absl::InvalidArgumentError("both kubelet ports are disabled");
  }
  std::unique_ptr<KubeletClient> c(new KubeletClient());
  c->options_ = options;
  std::string host = options.host.find(':') != std::string::npos
                         ? absl::StrCat("[", options.host, "]")
                         : options.host;
  internal::HttpGetOptions o;
  o.timeout = options.timeout;
  o.headers = {"Accept: application/json"};
  if (options.read_only_port != 0) {
    LB_ASSIGN_OR_RETURN(
        c->read_only_, internal::HttpGet::Create(
                           absl::StrCat("http://", host, ":", options.read_only_port, "/pods"), o));
  }
  if (options.secure_port != 0) {
    const bool verified = !options.ca_pem.empty();
    o.verify_tls = verified;
    o.ca_pem = options.ca_pem;
    o.tls_server_name = options.tls_server_name;
    if (credentials != nullptr) {
      o.cert_pem = credentials->client_cert_pem;
      o.key_pem = credentials->client_key_pem;
      // A bearer token goes only where it is known to go: never over an unverified connection.
      if (verified) o.token = credentials->token;
      c->token_withheld_ = !verified && !credentials->token.empty();
    }
    LB_ASSIGN_OR_RETURN(c->secure_,
                        internal::HttpGet::Create(
                            absl::StrCat("https://", host, ":", options.secure_port, "/pods"), o));
  }
  return c;
}

absl::StatusOr<std::string> KubeletClient::Get(internal::HttpGet& e) {
  long code = 0;
  auto body = e.Fetch(&code);
  if (!body.ok()) {
    std::string msg = absl::StrCat("kubelet ", body.status().message());
    if (&e == secure_.get() && !options_.ca_pem.empty() &&
        absl::StrContains(absl::AsciiStrToLower(msg), "certificate")) {
      absl::StrAppend(
          &msg,
          " (the kubelet's serving certificate does not verify against "
          "--kubelet-certificate-authority",
          options_.tls_server_name.empty() ? "" : absl::StrCat(" for ", options_.tls_server_name),
          ": refused)");
    }
    return absl::Status(body.status().code(), msg);
  }
  if (code < 200 || code >= 300)
    return KubeletHttpError(code, e.url(), *body, &e == secure_.get() && token_withheld_);
  last_url_ = e.url();
  // Read once a minute or less (only when it decides something): its 400 KiB are not kept.
  return e.TakeBody();
}

absl::StatusOr<std::string> KubeletClient::GetPods() {
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
  return absl::Status(
      secure_error.code(),
      absl::StrCat(secure_error.message(), "; read-only port: ", body.status().message()));
}

}  // namespace lifeboat::node
