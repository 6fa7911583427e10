#include "node/http_get.h"

#include <curl/curl.h>

#include <mutex>

#include "absl/strings/str_cat.h"

namespace lifeboat::node::internal {
namespace {

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

}  // namespace

struct HttpGet::Impl {
  CURL* curl = nullptr;
  curl_slist* headers = nullptr;
  HttpGetOptions options;  // the blobs must outlive the handle
  std::string body;
  ~Impl() {
    if (headers) curl_slist_free_all(headers);
    if (curl) curl_easy_cleanup(curl);
  }
};

HttpGet::~HttpGet() = default;

absl::StatusOr<std::unique_ptr<HttpGet>> HttpGet::Create(std::string url, HttpGetOptions options) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::unique_ptr<HttpGet> g(new HttpGet());
  g->url_ = std::move(url);
  g->impl_ = std::make_unique<Impl>();
  Impl& im = *g->impl_;
  im.options = std::move(options);
  im.curl = curl_easy_init();
  if (im.curl == nullptr) return absl::InternalError("curl_easy_init failed");
  CURL* h = im.curl;
  const HttpGetOptions& o = im.options;
  curl_easy_setopt(h, CURLOPT_URL, g->url_.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(o.timeout.count()));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min<long>(o.timeout.count(), 3000)));
  curl_easy_setopt(h, CURLOPT_USERAGENT, o.user_agent.c_str());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &im.body);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, o.verify_tls ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, o.verify_tls ? 2L : 0L);
  if (!o.ca_pem.empty()) {
    curl_blob ca{const_cast<char*>(o.ca_pem.data()), o.ca_pem.size(), CURL_BLOB_NOCOPY};
    curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
  }
  if (!o.cert_pem.empty()) {
    curl_blob cert{const_cast<char*>(o.cert_pem.data()), o.cert_pem.size(), CURL_BLOB_NOCOPY};
    curl_blob key{const_cast<char*>(o.key_pem.data()), o.key_pem.size(), CURL_BLOB_NOCOPY};
    curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &key);
  }
  for (const auto& header : o.headers) im.headers = curl_slist_append(im.headers, header.c_str());
  if (!o.token.empty()) {
    im.headers = curl_slist_append(im.headers, absl::StrCat("Authorization: Bearer ", o.token).c_str());
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, im.headers);
  return g;
}

absl::StatusOr<absl::string_view> HttpGet::Fetch(long* http_code) {
  Impl& im = *impl_;
  im.body.clear();  // keeps its capacity: no new buffer every tick
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(im.curl, CURLOPT_ERRORBUFFER, error);
  CURLcode rc = curl_easy_perform(im.curl);
  curl_easy_setopt(im.curl, CURLOPT_ERRORBUFFER, nullptr);
  if (rc != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat(url_, ": ", error[0] ? error : curl_easy_strerror(rc)));
  }
  *http_code = 0;
  curl_easy_getinfo(im.curl, CURLINFO_RESPONSE_CODE, http_code);
  return absl::string_view(im.body);
}

}  // namespace lifeboat::node::internal
