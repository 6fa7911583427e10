#include "node/api_pods.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/http_status.h"
#include "base/status.h"
#include "kube/names.h"

namespace lifeboat::node {

namespace {

absl::StatusOr<internal::HttpGetOptions> Options(const kube::Kubeconfig& config,
                                                 std::chrono::milliseconds timeout) {
  if (!absl::StartsWith(config.server, "https://") && !absl::StartsWith(config.server, "http://")) {
    return absl::InvalidArgumentError(absl::StrCat("kubeconfig ", config.source, ": server \"",
                                                   config.server, "\" is not an http(s) URL"));
  }
  // The checkpointer's own client cannot honour this yet; refusing beats connecting elsewhere.
  if (!config.proxy_url.empty()) {
    return absl::UnimplementedError(
        absl::StrCat("kubeconfig ", config.source, ": proxy-url ", config.proxy_url,
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
absl::StatusOr<absl::string_view> Answer(absl::StatusOr<absl::string_view> body, long code,
                                         absl::string_view url) {
  if (!body.ok())
    return absl::UnavailableError(absl::StrCat("API server ", body.status().message()));
  if (code >= 200 && code < 300) return body;
  std::string text = absl::StrCat("API server ", url, ": HTTP ", code, ": ",
                                  absl::StripAsciiWhitespace(body->substr(0, 300)));
  return HttpError(code, text);
}

}  // namespace

ApiPodLister::~ApiPodLister() = default;

std::string ApiPodLister::Path(const std::string& ns, const std::string& node_name) {
  return absl::StrCat("/api/v1/namespaces/", kube::QueryEscape(ns), "/pods?fieldSelector=",
                      kube::QueryEscape(absl::StrCat("spec.nodeName=", node_name)),
                      "&resourceVersion=0");
}

absl::StatusOr<std::unique_ptr<ApiPodLister>> ApiPodLister::Create(
    const kube::Kubeconfig& config, const std::string& ns, const std::string& node_name,
    std::chrono::milliseconds timeout) {
  LB_ASSIGN_OR_RETURN(internal::HttpGetOptions o, Options(config, timeout));
  // Whole pods: the parents' specs are what checkpoints are made of.
  o.headers = {"Accept: application/json"};
  o.accept_gzip = true;  // a hundred pods are ~1 MiB; gzip'd ~10x less to decrypt
  std::unique_ptr<ApiPodLister> l(new ApiPodLister());
  LB_ASSIGN_OR_RETURN(l->get_, internal::HttpGet::Create(Url(config, Path(ns, node_name)), o));
  return l;
}

absl::StatusOr<std::string> ApiPodLister::List() {
  long code = 0;
  auto body = get_->Fetch(&code);
  LB_RETURN_IF_ERROR(Answer(body, code, get_->url()).status());
  return get_->TakeBody();
}

ApiPodWatch::~ApiPodWatch() = default;

std::string ApiPodWatch::Path(const std::string& ns, const std::string& node_name,
                              const std::string& resource_version,
                              std::chrono::seconds server_timeout) {
  return absl::StrCat("/api/v1/namespaces/", kube::QueryEscape(ns), "/pods?fieldSelector=",
                      kube::QueryEscape(absl::StrCat("spec.nodeName=", node_name)),
                      "&watch=1&resourceVersion=", kube::QueryEscape(resource_version),
                      "&allowWatchBookmarks=true&timeoutSeconds=", server_timeout.count());
}

absl::StatusOr<std::unique_ptr<ApiPodWatch>> ApiPodWatch::Create(
    const kube::Kubeconfig& config, const std::string& ns, const std::string& node_name,
    std::chrono::milliseconds timeout) {
  LB_ASSIGN_OR_RETURN(internal::HttpGetOptions o, Options(config, timeout));
  o.headers = {"Accept: application/json"};
  std::unique_ptr<ApiPodWatch> w(new ApiPodWatch());
  w->ns_ = ns;
  w->node_name_ = node_name;
  w->timeout_ = timeout;
  LB_ASSIGN_OR_RETURN(
      w->get_,
      internal::HttpGet::Create(Url(config, Path(ns, node_name, "0", std::chrono::seconds(1))), o));
  return w;
}

void ApiPodWatch::Cancel() { get_->Cancel(); }

absl::Status ApiPodWatch::Watch(
    const std::string& resource_version, std::chrono::seconds server_timeout,
    std::chrono::milliseconds idle, const std::function<void()>& on_connected,
    const std::function<absl::Status(absl::string_view event)>& on_event) {
  // A pod is at most ~1.5 MiB (etcd's request limit); an event line longer than this is no event.
  constexpr size_t kMaxLine = size_t{4} << 20;
  std::string path = Path(ns_, node_name_, resource_version, server_timeout);
  std::string url = absl::StrCat(get_->url().substr(0, get_->url().find("/api/")), path);
  long code = 0;
  std::string line;  // a partial event, or the error body
  internal::HttpGet::StreamHandlers h;
  h.on_status = [&](long c) {
    code = c;
    if (c >= 200 && c < 300 && on_connected) on_connected();
    return absl::OkStatus();
  };
  h.on_body = [&](absl::string_view piece) -> absl::Status {
    if (code < 200 || code >= 300) {
      if (line.size() < 300) {
        absl::string_view head = piece.substr(0, 300 - line.size());
        line.append(head.data(), head.size());
      }
      return absl::OkStatus();
    }
    while (!piece.empty()) {
      size_t nl = piece.find('\n');
      if (nl == absl::string_view::npos) {
        if (line.size() + piece.size() > kMaxLine) {
          return absl::UnavailableError(
              absl::StrCat("API server ", url, ": a watch event over ", kMaxLine, " bytes"));
        }
        line.append(piece.data(), piece.size());
        return absl::OkStatus();
      }
      absl::string_view event = piece.substr(0, nl);
      if (!line.empty()) {
        line.append(event.data(), event.size());
        event = line;
      }
      if (!absl::StripAsciiWhitespace(event).empty()) {
        absl::Status st = on_event(event);
        if (!st.ok()) return st;
      }
      line.clear();
      piece.remove_prefix(nl + 1);
    }
    return absl::OkStatus();
  };
  internal::HttpGet::StreamOptions so;
  so.idle_timeout = idle;
  so.head_timeout = timeout_;
  so.max_duration = std::chrono::duration_cast<std::chrono::milliseconds>(server_timeout) + idle;
  absl::Status st = get_->Stream(path, so, h);
  if (st.code() == absl::StatusCode::kCancelled) return st;
  if (!st.ok() && code == 0)
    return absl::UnavailableError(absl::StrCat("API server watch: ", st.message()));
  if (code != 0 && (code < 200 || code >= 300)) {
    return HttpError(code, absl::StrCat("API server ", url, ": HTTP ", code, ": ",
                                        absl::StripAsciiWhitespace(line)));
  }
  if (!st.ok()) {
    if (st.code() == absl::StatusCode::kUnavailable)
      return absl::UnavailableError(absl::StrCat("API server watch: ", st.message()));
    return st;  // on_event's verdict
  }
  if (!line.empty()) return on_event(line);  // the last event without its newline
  return absl::OkStatus();
}

ApiObjectReader::~ApiObjectReader() = default;

absl::StatusOr<std::unique_ptr<ApiObjectReader>> ApiObjectReader::Create(
    const kube::Kubeconfig& config, const std::string& ns, std::chrono::milliseconds timeout) {
  LB_ASSIGN_OR_RETURN(internal::HttpGetOptions o, Options(config, timeout));
  o.headers = {"Accept: application/json"};
  std::unique_ptr<ApiObjectReader> r(new ApiObjectReader());
  r->ns_ = ns;
  LB_ASSIGN_OR_RETURN(
      r->get_, internal::HttpGet::Create(
                   Url(config, absl::StrCat("/api/v1/namespaces/", kube::QueryEscape(ns))), o));
  return r;
}

absl::StatusOr<absl::string_view> ApiObjectReader::Get(absl::string_view resource,
                                                       absl::string_view name) {
  std::string path = absl::StrCat("/api/v1/namespaces/", kube::QueryEscape(ns_), "/", resource, "/",
                                  kube::QueryEscape(name), "?resourceVersion=0");
  long code = 0;
  auto body = get_->FetchPath(path, &code);
  return Answer(body, code, absl::StrCat(get_->url(), "/", resource, "/", name));
}

absl::StatusOr<absl::string_view> ApiObjectReader::RequestToken(absl::string_view service_account,
                                                                absl::string_view request_json) {
  std::string path = absl::StrCat("/api/v1/namespaces/", kube::QueryEscape(ns_), "/serviceaccounts/",
                                  kube::QueryEscape(service_account), "/token");
  long code = 0;
  auto body = get_->Send("POST", path, request_json, "application/json", &code);
  return Answer(body, code, absl::StrCat(get_->url(), "/serviceaccounts/", service_account, "/token"));
}

}  // namespace lifeboat::node
