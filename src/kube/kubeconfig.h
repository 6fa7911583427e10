// kubeconfig loading as kubectl does it: an explicit path, else $KUBECONFIG (a ':'-separated list
// merged with the first file winning), else ~/.kube/config; the current context selects cluster
// and user; certificates and keys come from files (relative to the kubeconfig) or inline data.
#pragma once

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "kube/codec.h"

namespace lifeboat::kube {

struct Kubeconfig {
  std::string source;        // the file(s) it came from, for messages
  std::string context;       // the context in use
  std::string server;        // https://host:port
  std::string ca_pem;        // empty: the system's trust store
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string token;         // bearer token (from `token` or `tokenFile`)
  bool insecure_skip_tls_verify = false;

  // A self-contained kubeconfig for the context in use, with every certificate and key inline,
  // so it stays valid when copied elsewhere. It holds credentials: write it 0600.
  std::string Flatten() const;
};

// Loads the kubeconfig for `explicit_path` ("" = $KUBECONFIG or ~/.kube/config). Errors are
// InvalidArgument/NotFound with a message naming the file and the missing or bad field.
absl::StatusOr<Kubeconfig> LoadKubeconfig(absl::string_view explicit_path);

// Parses kubeconfig text; `base_dir` resolves relative file references.
absl::StatusOr<Kubeconfig> ParseKubeconfig(absl::string_view text, absl::string_view base_dir,
                                           absl::string_view source);

}  // namespace lifeboat::kube
