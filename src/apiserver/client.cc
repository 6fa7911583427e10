#include "apiserver/client.h"

#include <curl/curl.h>

#include <mutex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/http_status.h"
#include "base/status.h"

namespace lifeboat::apiserver {
namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

absl::Status HttpStatus(long code, absl::string_view method, absl::string_view path,
                        const std::string& body) {
  std::string message;
  try {
    Json j = Json::parse(body);
    if (j.is_object() && j.contains("message") && j["message"].is_string()) message = j["message"];
  } catch (...) {
  }
  if (message.empty()) message = std::string(absl::StripAsciiWhitespace(body.substr(0, 300)));
  std::string text = absl::StrCat(method, " ", path, ": HTTP ", code, ": ", message);
  if (code == 401) absl::StrAppend(&text, " (the kubeconfig's credentials were not accepted)");
  return HttpError(code, text);
}

struct UrlParts {
  std::string scheme, host, port, path, host_header;
};

// The parts of the kubeconfig's server URL, by libcurl's URL parser.
absl::StatusOr<UrlParts> ServerParts(const kube::Kubeconfig& config) {
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> u(curl_url(), &curl_url_cleanup);
  std::string server(absl::StripSuffix(config.server, "/"));
  if (!u || curl_url_set(u.get(), CURLUPART_URL, server.c_str(), 0) != CURLUE_OK) {
    return absl::InvalidArgumentError(
        absl::StrCat("kubeconfig ", config.source, ": server \"", config.server, "\" is not a valid URL"));
  }
  auto get = [&](CURLUPart part, unsigned flags) {
    char* v = nullptr;
    std::string out;
    if (curl_url_get(u.get(), part, &v, flags) == CURLUE_OK && v != nullptr) out = v;
    curl_free(v);
    return out;
  };
  UrlParts p;
  p.scheme = get(CURLUPART_SCHEME, 0);
  p.host = get(CURLUPART_HOST, 0);
  p.port = get(CURLUPART_PORT, CURLU_DEFAULT_PORT);
  p.path = get(CURLUPART_PATH, 0);
  if (p.path == "/") p.path.clear();
  std::string explicit_port = get(CURLUPART_PORT, 0);
  p.host_header = explicit_port.empty() ? p.host : absl::StrCat(p.host, ":", explicit_port);
  return p;
}

}  // namespace

struct Client::Impl {
  CURL* curl = nullptr;
  curl_slist* headers = nullptr;
  curl_slist* connect_to = nullptr;
  std::string base;  // what request paths are appended to (server_, or tls-server-name's URL)
  std::string ca, cert, key;
  ~Impl() {
    if (headers) curl_slist_free_all(headers);
    if (connect_to) curl_slist_free_all(connect_to);
    if (curl) curl_easy_cleanup(curl);
  }
};

Client::~Client() = default;

absl::StatusOr<std::unique_ptr<Client>> Client::Create(const kube::Kubeconfig& config,
                                                       ClientOptions options) {
  GlobalInit();
  if (!absl::StartsWith(config.server, "https://") && !absl::StartsWith(config.server, "http://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("kubeconfig ", config.source, ": server \"", config.server, "\" is not an http(s) URL"));
  }
  std::unique_ptr<Client> c(new Client());
  c->server_ = std::string(absl::StripSuffix(config.server, "/"));
  c->impl_ = std::make_unique<Impl>();
  Impl& im = *c->impl_;
  im.base = c->server_;
  im.curl = curl_easy_init();
  if (im.curl == nullptr) return absl::InternalError("curl_easy_init failed");
  if (!config.tls_server_name.empty()) {
    // Verify the certificate for (and send as SNI) tls-server-name while connecting to the
    // server's own address: requests go to https://<tls-server-name>:<port>, connected to
    // <host>:<port>, with the server's own Host header.
    LB_ASSIGN_OR_RETURN(auto parts, ServerParts(config));
    im.base = absl::StrCat(parts.scheme, "://", config.tls_server_name, ":", parts.port, parts.path);
    im.connect_to = curl_slist_append(
        nullptr, absl::StrCat(config.tls_server_name, ":", parts.port, ":", parts.host, ":", parts.port).c_str());
    im.headers = curl_slist_append(im.headers, absl::StrCat("Host: ", parts.host_header).c_str());
    curl_easy_setopt(im.curl, CURLOPT_CONNECT_TO, im.connect_to);
  }
  if (!config.proxy_url.empty()) {
    // client-go dials socks5 proxies with the server's name, not its address: socks5h.
    std::string proxy = config.proxy_url;
    if (absl::StartsWith(proxy, "socks5://")) proxy = absl::StrCat("socks5h://", proxy.substr(9));
    curl_easy_setopt(im.curl, CURLOPT_PROXY, proxy.c_str());
  }
  im.ca = config.ca_pem;
  im.cert = config.client_cert_pem;
  im.key = config.client_key_pem;
  CURL* h = im.curl;
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout.count()));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_USERAGENT, options.user_agent.c_str());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Collect);
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
  if (config.insecure_skip_tls_verify) {
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  } else {
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  }
  if (!im.ca.empty()) {
    curl_blob blob{im.ca.data(), im.ca.size(), CURL_BLOB_NOCOPY};
    curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
  }
  if (!im.cert.empty()) {
    curl_blob cert{im.cert.data(), im.cert.size(), CURL_BLOB_NOCOPY};
    curl_blob key{im.key.data(), im.key.size(), CURL_BLOB_NOCOPY};
    curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &key);
  }
  im.headers = curl_slist_append(im.headers, "Accept: application/json");
  im.headers = curl_slist_append(im.headers, "Content-Type: application/json");
  if (!config.token.empty()) {
    im.headers = curl_slist_append(im.headers, absl::StrCat("Authorization: Bearer ", config.token).c_str());
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, im.headers);
  return c;
}

absl::StatusOr<std::string> Client::Do(absl::string_view method, absl::string_view path,
                                       const std::string* body, long* http_code) {
  CURL* h = impl_->curl;
  std::string url = absl::StrCat(impl_->base, path);
  std::string response;
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
  if (body != nullptr) {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, std::string(method).c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body->data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body->size()));
  } else {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);  // also drops a previous request's body
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, std::string(method).c_str());
  }
  CURLcode rc = curl_easy_perform(h);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
  if (rc != CURLE_OK) {
    std::string detail = error[0] ? error : curl_easy_strerror(rc);
    std::string text = absl::StrCat("cannot reach the API server at ", server_, ": ", detail);
    switch (rc) {
      case CURLE_PEER_FAILED_VERIFICATION:
      case CURLE_SSL_CACERT_BADFILE:
      case CURLE_SSL_CERTPROBLEM:
      case CURLE_SSL_CONNECT_ERROR:
        return absl::FailedPreconditionError(absl::StrCat(
            "TLS with the API server at ", server_, " failed: ", detail,
            " (check the kubeconfig's certificate-authority and client certificate)"));
      default:
        return absl::UnavailableError(text);
    }
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, http_code);
  return response;
}

absl::StatusOr<Json> Client::DoJson(absl::string_view method, absl::string_view path, const Json* body) {
  std::string payload;
  if (body != nullptr) payload = body->dump();
  long code = 0;
  LB_ASSIGN_OR_RETURN(std::string response, Do(method, path, body ? &payload : nullptr, &code));
  if (code < 200 || code >= 300) return HttpStatus(code, method, path, response);
  try {
    return Json::parse(response);
  } catch (const Json::parse_error& e) {
    return absl::InternalError(absl::StrCat(method, " ", path, ": the API server's answer is not JSON: ", e.what()));
  }
}

absl::StatusOr<Json> Client::Get(absl::string_view path) { return DoJson("GET", path, nullptr); }
absl::StatusOr<Json> Client::Post(absl::string_view path, const Json& body) {
  return DoJson("POST", path, &body);
}
absl::StatusOr<Json> Client::Delete(absl::string_view path) { return DoJson("DELETE", path, nullptr); }

absl::StatusOr<std::string> Client::GetRaw(absl::string_view path) {
  long code = 0;
  LB_ASSIGN_OR_RETURN(std::string response, Do("GET", path, nullptr, &code));
  if (code < 200 || code >= 300) return HttpStatus(code, "GET", path, response);
  return response;
}

absl::Status Client::List(absl::string_view path, absl::string_view query, int limit,
                          const std::function<absl::Status(Json&& item)>& each) {
  std::string cont;
  do {
    std::string url = absl::StrCat(path, "?limit=", limit);
    if (!query.empty()) absl::StrAppend(&url, "&", query);
    if (!cont.empty()) absl::StrAppend(&url, "&continue=", QueryEscape(cont));
    LB_ASSIGN_OR_RETURN(Json page, Get(url));
    if (page.contains("items") && page["items"].is_array()) {
      for (auto& item : page["items"]) LB_RETURN_IF_ERROR(each(std::move(item)));
    }
    cont = page.contains("metadata") ? page["metadata"].value("continue", "") : "";
  } while (!cont.empty());
  return absl::OkStatus();
}

}  // namespace lifeboat::apiserver
