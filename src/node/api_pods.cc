#include "node/api_pods.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/http_status.h"
#include "base/status.h"
#include "kube/names.h"

namespace lifeboat::node {

namespace {

absl::StatusOr<internal::HttpGetOptions> Options(const kube::Kubeconfig& config, std::chrono::milliseconds timeout) {
  if (!absl::StartsWith(config.server, "https://") && !absl::StartsWith(config.server, "http://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("kubeconfig ", config.source, ": server \"", config.server, "\" is not an http(s) URL"));
  }
  // The checkpointer's own client cannot honour this yet; refusing beats connecting elsewhere.
  if (!config.proxy_url.empty()) {
    return absl::UnimplementedError(absl::StrCat("kubeconfig ", config.source, ": proxy-url ", config.proxy_url,
                                                 " is not supported by the checkpointer; reach the API server "
                                                 "directly (remove proxy-url)"));
  }
  internal::HttpGetOptions o;
  o.timeout = timeout;
  o.verify_tls = !config.insecure_skip_tls_verify;
  o.tls_server_name = config.tls_server_name;
  o.ca_pem = config.ca_pem;
  o.cert_pem = config.client_cert_pem;
  o.key_pem = config.client_key_pem;
  o.token = config.token;
  return o;
}

std::string Url(const kube::Kubeconfig& config, absl::string_view path) {
  return absl::StrCat(absl::StripSuffix(config.server, "/"), path);
}

// The answer to a GET as a Status: the body on 2xx, else the code mapped by base/http_status.h.
absl::StatusOr<absl::string_view> Answer(absl::StatusOr<absl::string_view> body, long code, absl::string_view url) {
  if (!body.ok()) return absl::UnavailableError(absl::StrCat("API server ", body.status().message()));
  if (code >= 200 && code < 300) return body;
  std::string text =
      absl::StrCat("API server ", url, ": HTTP ", code, ": ", absl::StripAsciiWhitespace(body->substr(0, 300)));
  return HttpError(code, text);
}

}  // namespace

ApiPodLister::~ApiPodLister() = default;

std::string ApiPodLister::Path(const std::string& ns, const std::string& node_name) {
  return absl::StrCat("/api/v1/namespaces/", kube::QueryEscape(ns), "/pods?fieldSelector=",
                      kube::QueryEscape(absl::StrCat("spec.nodeName=", node_name)), "&resourceVersion=0");
}

absl::StatusOr<std::unique_ptr<ApiPodLister>> ApiPodLister::Create(const kube::Kubeconfig& config,
                                                                   const std::string& ns,
                                                                   const std::string& node_name,
                                                                   std::chrono::milliseconds timeout) {
  LB_ASSIGN_OR_RETURN(internal::HttpGetOptions o, Options(config, timeout));
  // Whole pods: the parents' specs are what checkpoints are made of.
  o.headers = {"Accept: application/json"};
  o.accept_gzip = true;  // a hundred pods are ~1 MiB; gzip'd ~10x less to decrypt
  std::unique_ptr<ApiPodLister> l(new ApiPodLister());
  LB_ASSIGN_OR_RETURN(l->get_, internal::HttpGet::Create(
                                   Url(config, Path(ns, node_name)), o));
  return l;
}

absl::StatusOr<absl::string_view> ApiPodLister::List() {
  long code = 0;
  auto body = get_->Fetch(&code);
  return Answer(body, code, get_->url());
}

ApiObjectReader::~ApiObjectReader() = default;

absl::StatusOr<std::unique_ptr<ApiObjectReader>> ApiObjectReader::Create(const kube::Kubeconfig& config,
                                                                         const std::string& ns,
                                                                         std::chrono::milliseconds timeout) {
  LB_ASSIGN_OR_RETURN(internal::HttpGetOptions o, Options(config, timeout));
  o.headers = {"Accept: application/json"};
  std::unique_ptr<ApiObjectReader> r(new ApiObjectReader());
  r->ns_ = ns;
  LB_ASSIGN_OR_RETURN(r->get_, internal::HttpGet::Create(Url(config, absl::StrCat("/api/v1/namespaces/",
                                                                                  kube::QueryEscape(ns))),
                                                         o));
  return r;
}

absl::StatusOr<absl::string_view> ApiObjectReader::Get(absl::string_view resource, absl::string_view name) {
  std::string path = absl::StrCat("/api/v1/namespaces/", kube::QueryEscape(ns_), "/", resource, "/",
                                  kube::QueryEscape(name), "?resourceVersion=0");
  long code = 0;
  auto body = get_->FetchPath(path, &code);
  return Answer(body, code, absl::StrCat(get_->url(), "/", resource, "/", name));
}

}  // namespace lifeboat::node
