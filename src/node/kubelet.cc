#include "node/kubelet.h"

#include <curl/curl.h>

#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/status.h"

namespace lifeboat::node {
namespace {

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

absl::Status HttpError(long code, const std::string& url, const std::string& body) {
  std::string text = absl::StrCat("kubelet ", url, ": HTTP ", code, ": ",
                                  absl::StripAsciiWhitespace(body.substr(0, 200)));
  switch (code) {
    case 401:
      return absl::UnauthenticatedError(
          absl::StrCat(text, " (the kubelet did not accept the kubeconfig's credentials)"));
    case 403:
      return absl::PermissionDeniedError(
          absl::StrCat(text, " (the checkpointer's identity needs `get` on nodes/proxy)"));
    case 404:
      return absl::NotFoundError(text);
    default:
      if (code >= 500) return absl::UnavailableError(text);
      return absl::FailedPreconditionError(text);
  }
}

}  // namespace

// One persistent curl handle per port, so connections (and TLS sessions) are reused across ticks.
struct KubeletClient::Endpoint {
  std::string url;
  CURL* curl = nullptr;
  curl_slist* headers = nullptr;
  std::string cert, key;
  ~Endpoint() {
    if (headers) curl_slist_free_all(headers);
    if (curl) curl_easy_cleanup(curl);
  }
};

KubeletClient::~KubeletClient() = default;

absl::StatusOr<std::unique_ptr<KubeletClient>> KubeletClient::Create(const KubeletOptions& options,
                                                                     const kube::Kubeconfig* credentials) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (options.secure_port == 0 && options.read_only_port == 0) {
    return absl::InvalidArgumentError("both kubelet ports are disabled");
  }
  std::unique_ptr<KubeletClient> c(new KubeletClient());
  c->options_ = options;
  std::string host = options.host.find(':') != std::string::npos ? absl::StrCat("[", options.host, "]")
                                                                 : options.host;
  auto make = [&](bool secure) -> absl::StatusOr<std::unique_ptr<Endpoint>> {
    auto e = std::make_unique<Endpoint>();
    e->url = absl::StrCat(secure ? "https://" : "http://", host, ":",
                          secure ? options.secure_port : options.read_only_port, "/pods");
    e->curl = curl_easy_init();
    if (e->curl == nullptr) return absl::InternalError("curl_easy_init failed");
    CURL* h = e->curl;
    curl_easy_setopt(h, CURLOPT_URL, e->url.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout.count()));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.timeout.count()));
    curl_easy_setopt(h, CURLOPT_USERAGENT, "lifeboat-checkpointer");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Collect);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    e->headers = curl_slist_append(e->headers, "Accept: application/json");
    if (secure) {
      curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
      if (credentials != nullptr) {
        e->cert = credentials->client_cert_pem;
        e->key = credentials->client_key_pem;
        if (!e->cert.empty()) {
          curl_blob cert{e->cert.data(), e->cert.size(), CURL_BLOB_NOCOPY};
          curl_blob key{e->key.data(), e->key.size(), CURL_BLOB_NOCOPY};
          curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
          curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cert);
          curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
          curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &key);
        }
        if (!credentials->token.empty()) {
          e->headers = curl_slist_append(e->headers,
                                         absl::StrCat("Authorization: Bearer ", credentials->token).c_str());
        }
      }
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, e->headers);
    return e;
  };
  if (options.secure_port != 0) {
    LB_ASSIGN_OR_RETURN(c->secure_, make(true));
  }
  if (options.read_only_port != 0) {
    LB_ASSIGN_OR_RETURN(c->read_only_, make(false));
  }
  return c;
}

absl::StatusOr<std::string> KubeletClient::Get(Endpoint& e) {
  std::string body;
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(e.curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(e.curl, CURLOPT_ERRORBUFFER, error);
  CURLcode rc = curl_easy_perform(e.curl);
  curl_easy_setopt(e.curl, CURLOPT_ERRORBUFFER, nullptr);
  if (rc != CURLE_OK) {
    return absl::UnavailableError(
        absl::StrCat("kubelet ", e.url, ": ", error[0] ? error : curl_easy_strerror(rc)));
  }
  long code = 0;
  curl_easy_getinfo(e.curl, CURLINFO_RESPONSE_CODE, &code);
  if (code != 200) return HttpError(code, e.url, body);
  last_url_ = e.url;
  return body;
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
  return absl::Status(secure_error.code(),
                      absl::StrCat(secure_error.message(), "; read-only port: ", body.status().message()));
}

}  // namespace lifeboat::node
