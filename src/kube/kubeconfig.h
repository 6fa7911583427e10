// kubeconfig loading as client-go does it (k8s.io/client-go/tools/clientcmd), for the calls
// bootkube made: NewNonInteractiveDeferredLoadingClientConfig(&ClientConfigLoadingRules{
// ExplicitPath: path}, &ConfigOverrides{}).ClientConfig() in `recover`, `start` and the
// checkpointer. kubectl reads the same files the same way; a kubeconfig either accepts, this does.
//
// The rules as implemented (client-go's, unless marked "Lifeboat:"):
//
// Which files
//  - An explicit path (--kubeconfig) is the only file read; if it does not exist that is an error
//    (NotFound). Otherwise $KUBECONFIG, a ':'-separated list (empty entries skipped, repeated
//    paths read once), else $HOME/.kube/config. Files of that list that do not exist are skipped;
//    a file that exists but cannot be read or parsed is an error.
//  - An empty file, or one with only comments, is an empty config.
//
// Within one file
//  - `clusters`, `users` and `contexts` are lists of {name, cluster|user|context}. An entry
//    without `name` has the name "" — the empty name is a name like any other.
//  - Two entries of one list with the same name (two unnamed ones included) are an error
//    ("duplicate name ... in list", as client-go's v1 conversion says).
//  - Relative paths (certificate-authority, client-certificate, client-key, tokenFile) resolve
//    against the directory of the file that defined the entry holding them.
//
// Across files
//  - The first file to define a cluster, user or context name wins, whole: entries are never
//    merged field by field (a second file's "admin" user is ignored even for fields the first
//    one lacks).
//  - `current-context` is the first non-empty one.
//
// Selecting what to use
//  - The context is the one named by current-context. current-context absent or "" selects the
//    context named "" (bootkube's kubeconfigs have one unnamed context and no current-context).
//    If no context has that name: for a non-empty name it is an error ("context was not found
//    for specified context: X"); for "" the context is empty (cluster "" and user "").
//  - The context's cluster and user are looked up by name. An absent cluster is an empty cluster:
//    with no server, that is client-go's "invalid configuration: no configuration has been
//    provided" (the message here also names the files and the context/cluster that is missing).
//    A cluster with other fields but no server: "no server found for cluster X". An absent
//    user is no credentials: requests are anonymous (Kubeconfig::warnings says so).
//  - Nothing usable (no files, empty files, or an empty cluster): client-go then falls back to
//    the in-cluster configuration when $KUBERNETES_SERVICE_HOST and $KUBERNETES_SERVICE_PORT are
//    set and /var/run/secrets/kubernetes.io/serviceaccount/token is a file — so does this
//    (server https://HOST:PORT, that token, ca.crt next to it when readable, else the system's
//    trust store). This is the only in-cluster fallback: a kubeconfig that names a server is
//    used as it is, even in a pod. (bootkube's checkpointer mounts a kubeconfig, so its calls
//    never reached the fallback in practice.)
//
// Server and TLS
//  - `server` with an http or https scheme is used as given; without a scheme ("host:port")
//    client-go uses http://. Credentials (token, client certificate) and the cluster's TLS
//    settings are used only for https servers: over http nothing is sent (client-go reads the
//    user's credentials only when the transport is TLS).
//  - `certificate-authority-data` (base64) or `certificate-authority` (a file); both set is an
//    error, as is an unreadable CA file. Neither: the system's trust store.
//  - `insecure-skip-tls-verify: true` together with a CA is refused (client-go's transport:
//    "specifying a root certificates file with the insecure flag is not allowed").
//  - `tls-server-name` is the name the server's certificate is checked against (and sent as
//    SNI) instead of the server URL's host; carried in Kubeconfig::tls_server_name.
//  - `proxy-url` (http, https or socks5 scheme, else an error) is carried in
//    Kubeconfig::proxy_url; a client that cannot honour it must refuse it rather than go direct.
//    Lifeboat: apiserver::Client (libcurl) honours it; the checkpointer's own client refuses it.
//    As in client-go, without proxy-url the environment's https_proxy/no_proxy apply to libcurl.
//
// Credentials
//  - `token` and `tokenFile`: client-go's transport sends the tokenFile's content (re-read at most
//    once a minute, whitespace trimmed) when it can read it, else the inline `token`. Lifeboat:
//    Kubeconfig::token is that choice made at load time; Kubeconfig::token_file is carried so a
//    long-running client can re-read it. An unreadable or empty tokenFile with no inline token is
//    an error.
//  - `client-certificate-data` / `client-certificate` and `client-key-data` / `client-key`: data
//    and file both set is an error; a certificate without a key is an error; a key without a
//    certificate is ignored. Unreadable files are errors.
//  - Token together with username/password is an error ("more than one authentication method").
//  - Lifeboat: exec plugins, auth providers, basic auth (username/password; removed from the API
//    server in 1.19) and impersonation (`as`, `as-groups`, ...) are refused with Unimplemented
//    rather than ignored, so Lifeboat never acts as someone the kubeconfig did not mean.
//
// Several errors found at once are reported together, as client-go's ConfirmUsable does.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kube/codec.h"

namespace lifeboat::kube {

struct Kubeconfig {
  std::string source;        // the file(s) it came from, for messages
  std::string context;       // the name of the context in use ("" is a name)
  std::string cluster_name;  // the context's cluster and user names
  std::string user_name;
  std::string server;  // http(s)://host:port[/path]
  std::string ca_pem;  // empty: the system's trust store
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string token;            // bearer token (see the token/tokenFile rule above)
  std::string token_file;       // absolute path of the user's tokenFile, if any
  std::string tls_server_name;  // verify the server's certificate for this name, not the host
  std::string proxy_url;        // http://, https:// or socks5:// proxy to reach the server
  bool insecure_skip_tls_verify = false;
  bool in_cluster = false;  // came from the pod's service account (the in-cluster fallback)
  // Things an operator may want to know that are not errors (an undefined user: anonymous).
  std::vector<std::string> warnings;

  // A self-contained kubeconfig for the context in use, with every certificate and key inline,
  // so it stays valid when copied elsewhere. It holds credentials: write it 0600.
  std::string Flatten() const;
};

// Where LoadKubeconfig looks besides an explicit path. FromProcess() reads the process's
// environment; tests fill it in.
struct KubeconfigEnvironment {
  std::string kubeconfig;    // $KUBECONFIG
  std::string home;          // $HOME
  std::string service_host;  // $KUBERNETES_SERVICE_HOST
  std::string service_port;  // $KUBERNETES_SERVICE_PORT
  std::string service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
  static KubeconfigEnvironment FromProcess();
};

// Loads the kubeconfig for `explicit_path` ("" = $KUBECONFIG or ~/.kube/config) by the rules
// above. Errors: NotFound (an explicit file that does not exist), InvalidArgument (a file that
// cannot be parsed or a configuration that is not usable), Unimplemented (credentials Lifeboat
// does not use); each message names the file(s) and the context, cluster or user at fault.
// Nothing here is worth retrying without changing the files.
absl::StatusOr<Kubeconfig> LoadKubeconfig(absl::string_view explicit_path);
absl::StatusOr<Kubeconfig> LoadKubeconfig(absl::string_view explicit_path,
                                          const KubeconfigEnvironment& env);

// Parses kubeconfig text as if read from a file in `base_dir` (relative paths resolve there);
// `source` names it in messages. No in-cluster fallback.
absl::StatusOr<Kubeconfig> ParseKubeconfig(absl::string_view text, absl::string_view base_dir,
                                           absl::string_view source);

}  // namespace lifeboat::kube
