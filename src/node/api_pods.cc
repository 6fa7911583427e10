#include "node/api_pods.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "apiserver/client.h"
#include "base/status.h"

namespace lifeboat::node {

ApiPodLister::~ApiPodLister() = default;

std::string ApiPodLister::Path(const std::string& ns, const std::string& node_name) {
  return absl::StrCat("/api/v1/namespaces/", apiserver::QueryEscape(ns), "/pods?fieldSelector=",
                      apiserver::QueryEscape(absl::StrCat("spec.nodeName=", node_name)), "&resourceVersion=0");
}

absl::StatusOr<std::unique_ptr<ApiPodLister>> ApiPodLister::Create(const kube::Kubeconfig& config,
                                                                   const std::string& ns,
                                                                   const std::string& node_name,
                                                                   std::chrono::milliseconds timeout) {
  if (!absl::StartsWith(config.server, "https://") && !absl::StartsWith(config.server, "http://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("kubeconfig ", config.source, ": server \"", config.server, "\" is not an http(s) URL"));
  }
  internal::HttpGetOptions o;
  o.timeout = timeout;
  o.verify_tls = !config.insecure_skip_tls_verify;
  o.ca_pem = config.ca_pem;
  o.cert_pem = config.client_cert_pem;
  o.key_pem = config.client_key_pem;
  o.token = config.token;
  o.headers = {"Accept: application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1, application/json"};
  std::unique_ptr<ApiPodLister> l(new ApiPodLister());
  LB_ASSIGN_OR_RETURN(l->get_, internal::HttpGet::Create(
                                   absl::StrCat(absl::StripSuffix(config.server, "/"), Path(ns, node_name)), o));
  return l;
}

absl::StatusOr<absl::string_view> ApiPodLister::List() {
  long code = 0;
  auto body = get_->Fetch(&code);
  if (!body.ok()) return absl::UnavailableError(absl::StrCat("API server ", body.status().message()));
  if (code == 200) return body;
  std::string text = absl::StrCat("API server ", get_->url(), ": HTTP ", code, ": ",
                                  absl::StripAsciiWhitespace(body->substr(0, 300)));
  if (code == 401) return absl::UnauthenticatedError(text);
  if (code == 403) return absl::PermissionDeniedError(text);
  if (code == 429 || code >= 500) return absl::UnavailableError(text);
  return absl::FailedPreconditionError(text);
}

}  // namespace lifeboat::node
