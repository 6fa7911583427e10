// Client of the local kubelet's /pods: the pods the kubelet runs or is about to run, including
// those it learnt from the API server before the API went away, and its static pods.
//
// The secure port (10250) needs credentials the kubelet accepts (the kubeconfig's client
// certificate or bearer token, authorised for `get nodes/proxy`). Its serving certificate is
// verified against `ca_pem` (the kubelet's own self-signed pair in
// /var/lib/kubelet/pki/kubelet.crt, or the cluster CA with serverTLSBootstrap) for
// `tls_server_name` (the node's name). Without a CA the connection is not verified, and then no
// bearer token is sent over it (a client certificate reveals nothing and still is): whatever
// listens on the port could collect it. The read-only port (10255, plain HTTP, no auth) is used
// only when asked for (nonzero), and is disabled on most current clusters.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kube/kubeconfig.h"
#include "node/http_get.h"

namespace lifeboat::node {

struct KubeletOptions {
  std::string host = "127.0.0.1";
  int secure_port = 10250;  // 0: do not use
  int read_only_port = 0;   // 0: do not use; else the fallback when the secure port fails
  // PEM CA bundle verifying the kubelet's serving certificate; empty: not verified (and no token).
  std::string ca_pem;
  // The name the serving certificate must carry (the node's name); empty: `host`.
  std::string tls_server_name;
  std::chrono::milliseconds timeout{10000};
  // How long to stay on the read-only port after the secure one failed before trying it again.
  std::chrono::milliseconds secure_retry{60000};
};

class KubeletClient {
 public:
  // `credentials` supplies client certificate/key and token (its server is ignored); may be
  // null for read-only use.
  static absl::StatusOr<std::unique_ptr<KubeletClient>> Create(const KubeletOptions& options,
                                                               const kube::Kubeconfig* credentials);
  ~KubeletClient();

  // GET /pods: the kubelet's PodList as JSON text (no buffer is kept for it). Errors:
  // Unavailable (not reachable, timeout, 5xx), Unauthenticated (401), PermissionDenied (403:
  // grant get on nodes/proxy); when both ports fail the message names both failures.
  absl::StatusOr<std::string> GetPods();

  // The URL that answered last ("" before).
  std::string last_url() const { return last_url_; }

 private:
  KubeletClient() = default;
  absl::StatusOr<std::string> Get(internal::HttpGet& e);

  KubeletOptions options_;
  std::unique_ptr<internal::HttpGet> secure_;
  std::unique_ptr<internal::HttpGet> read_only_;
  std::chrono::steady_clock::time_point secure_failed_at_{};
  bool secure_failed_ = false;
  std::string last_url_;
  bool token_withheld_ = false;  // the kubeconfig has a token, the connection is not verified
};

}  // namespace lifeboat::node
