#include "kube/kubeconfig.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/file.h"
#include "base/status.h"

namespace lifeboat::kube {
namespace fs = std::filesystem;
namespace {

constexpr absl::string_view kEmptyConfig =
    "no configuration has been provided, try setting KUBERNETES_MASTER environment variable";

std::string Quote(absl::string_view name) { return absl::StrCat("\"", name, "\""); }

// One cluster, user or context, with the file that defined it.
struct Entry {
  Json body = Json::object();
  std::string file;
};

// The merge of every file read, by client-go's rules (the first file to define a name wins).
struct Merged {
  std::map<std::string, Entry> clusters, users, contexts;
  std::string current_context;
  std::vector<std::string> files;  // the files read, in order
};

// What a list of `list` is called in messages: "cluster", "user", "context".
absl::Status AddFile(const Json& doc, const std::string& file, Merged& into) {
  if (doc.is_null()) return absl::OkStatus();
  if (!doc.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("kubeconfig ", file, ": not a kubeconfig (a YAML mapping)"));
  }
  struct List {
    const char* list;
    const char* inner;
    std::map<std::string, Entry>* dst;
  };
  for (const List& l :
       {List{"clusters", "cluster", &into.clusters}, List{"users", "user", &into.users},
        List{"contexts", "context", &into.contexts}}) {
    auto it = doc.find(l.list);
    if (it == doc.end() || it->is_null()) continue;
    if (!it->is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat("kubeconfig ", file, ": `", l.list, "` must be a list"));
    }
    std::set<std::string> seen;
    std::map<std::string, Entry> from_this_file;
    for (const Json& e : *it) {
      if (!e.is_object()) {
        return absl::InvalidArgumentError(
            absl::StrCat("kubeconfig ", file, ": an entry of `", l.list, "` is not a mapping"));
      }
      std::string name;
      if (auto n = e.find("name"); n != e.end() && !n->is_null()) {
        if (!n->is_string()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "kubeconfig ", file, ": an entry of `", l.list, "` has a name that is not a string"));
        }
        name = n->get<std::string>();
      }
      if (!seen.insert(name).second) {
        return absl::InvalidArgumentError(absl::StrCat(
            "kubeconfig ", file, ": duplicate name ", Quote(name), " in list `", l.list, "`",
            name.empty() ? " (two entries without a name: each needs a distinct name)" : ""));
      }
      Entry entry;
      entry.file = file;
      if (auto b = e.find(l.inner); b != e.end() && !b->is_null()) {
        if (!b->is_object()) {
          return absl::InvalidArgumentError(absl::StrCat("kubeconfig ", file, ": ", l.inner, " ",
                                                         Quote(name), ": `", l.inner,
                                                         "` must be a mapping"));
        }
        entry.body = *b;
      }
      from_this_file.emplace(name, std::move(entry));
    }
    // The first file to define a name wins, whole.
    for (auto& [name, entry] : from_this_file) l.dst->emplace(name, std::move(entry));
  }
  if (auto cc = doc.find("current-context"); cc != doc.end() && !cc->is_null()) {
    if (!cc->is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("kubeconfig ", file, ": `current-context` must be a string"));
    }
    if (into.current_context.empty()) into.current_context = cc->get<std::string>();
  }
  return absl::OkStatus();
}

// Typed access to one entry's fields; type errors are collected, never thrown.
class Fields {
 public:
  Fields(const Entry& e, std::string what, std::vector<std::string>& errors)
      : e_(e), what_(std::move(what)), errors_(errors) {}

  std::string String(const char* key) {
    auto it = e_.body.find(key);
    if (it == e_.body.end() || it->is_null()) return "";
    if (!it->is_string()) {
      errors_.push_back(absl::StrCat(what_, ": `", key, "` must be a string"));
      return "";
    }
    return it->get<std::string>();
  }
  bool Bool(const char* key) {
    auto it = e_.body.find(key);
    if (it == e_.body.end() || it->is_null()) return false;
    if (!it->is_boolean()) {
      errors_.push_back(absl::StrCat(what_, ": `", key, "` must be true or false"));
      return false;
    }
    return it->get<bool>();
  }
  bool Has(const char* key) const {
    auto it = e_.body.find(key);
    if (it == e_.body.end() || it->is_null()) return false;
    if (it->is_string()) return !it->get<std::string>().empty();
    if (it->is_array() || it->is_object()) return !it->empty();
    return true;
  }
  // A path as written, made absolute against the defining file's directory.
  std::string Path(const char* key) {
    std::string p = String(key);
    if (p.empty()) return p;
    fs::path path(p);
    if (path.is_relative()) {
      std::error_code ec;
      fs::path dir = fs::path(e_.file).parent_path();
      fs::path base = fs::absolute(dir.empty() ? fs::path(".") : dir, ec);
      if (ec) base = dir;
      path = (base / path).lexically_normal();
    }
    return path.string();
  }
  // `<key>-data` (base64) or the file `<key>`; both set is an error, as in client-go.
  std::string DataOrFile(const std::string& key, const char* data_msg_name,
                         const char* file_msg_name) {
    std::string data_key = key + "-data";
    std::string data = String(data_key.c_str());
    std::string file = Path(key.c_str());
    if (!data.empty() && !file.empty()) {
      errors_.push_back(absl::StrCat(what_, ": ", data_msg_name, " and ", file_msg_name,
                                     " are both specified; keep one"));
      return "";
    }
    if (!data.empty()) {
      std::string out;
      if (!absl::Base64Unescape(data, &out)) {
        errors_.push_back(absl::StrCat(what_, ": `", data_key, "` is not valid base64"));
      }
      return out;
    }
    if (!file.empty()) {
      auto content = base::ReadFile(file);
      if (!content.ok()) {
        errors_.push_back(absl::StrCat(what_, ": unable to read ", key, " ", file, ": ",
                                       content.status().message()));
        return "";
      }
      return *std::move(content);
    }
    return "";
  }
  const std::string& what() const { return what_; }

 private:
  const Entry& e_;
  std::string what_;
  std::vector<std::string>& errors_;
};

std::string Describe(absl::string_view kind, absl::string_view name, const Entry& e) {
  return absl::StrCat(kind, " ", Quote(name), " (", e.file, ")");
}

bool IsRegularFile(const fs::path& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// client-go's in-cluster configuration, when it is possible at all (its Possible()).
std::optional<absl::StatusOr<Kubeconfig>> InCluster(const KubeconfigEnvironment& env) {
  fs::path dir(env.service_account_dir);
  if (env.service_host.empty() || env.service_port.empty() || !IsRegularFile(dir / "token")) {
    return std::nullopt;
  }
  Kubeconfig kc;
  kc.in_cluster = true;
  kc.source =
      absl::StrCat("in-cluster configuration (KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT, ",
                   dir.string(), ")");
  std::string host = env.service_host;
  if (absl::StrContains(host, ':') && !absl::StartsWith(host, "["))
    host = absl::StrCat("[", host, "]");
  kc.server = absl::StrCat("https://", host, ":", env.service_port);
  kc.token_file = (dir / "token").string();
  auto token = base::ReadFile(kc.token_file);
  if (!token.ok()) return absl::StatusOr<Kubeconfig>(Annotate(token.status(), kc.source));
  kc.token = std::string(absl::StripAsciiWhitespace(*token));
  auto ca = base::ReadFile(dir / "ca.crt");
  if (ca.ok()) {
    kc.ca_pem = *std::move(ca);
  } else {
    kc.warnings.push_back(
        absl::StrCat("in-cluster configuration: cannot read ", (dir / "ca.crt").string(),
                     "; the server is verified against the system's trust store"));
  }
  return absl::StatusOr<Kubeconfig>(std::move(kc));
}

absl::StatusOr<Kubeconfig> Resolve(const Merged& m, const KubeconfigEnvironment* env) {
  Kubeconfig kc;
  kc.source = m.files.empty() ? std::string("(no kubeconfig file)") : absl::StrJoin(m.files, ":");
  std::vector<std::string> errors;
  std::vector<std::string> why_empty;  // explains an empty configuration

  kc.context = m.current_context;
  std::string context_desc = m.current_context.empty()
                                 ? std::string("context \"\" (current-context is not set)")
                                 : absl::StrCat("context ", Quote(m.current_context));
  static const Entry kNone;
  const Entry* ctx = &kNone;
  if (auto it = m.contexts.find(kc.context); it != m.contexts.end()) {
    ctx = &it->second;
  } else if (!kc.context.empty()) {
    errors.push_back(absl::StrCat("context was not found for specified context: ", kc.context,
                                  " (current-context names a context no file defines)"));
  } else {
    why_empty.push_back(absl::StrCat("no file defines ", context_desc));
  }
  Fields ctx_fields(*ctx, context_desc, errors);
  kc.cluster_name = ctx_fields.String("cluster");
  kc.user_name = ctx_fields.String("user");

  // The cluster: absent means an empty cluster (client-go's NewCluster()).
  const Entry* cluster = &kNone;
  bool cluster_defined = false;
  if (auto it = m.clusters.find(kc.cluster_name); it != m.clusters.end()) {
    cluster = &it->second;
    cluster_defined = true;
  } else if (ctx != &kNone) {
    why_empty.push_back(absl::StrCat(Describe("context", kc.context, *ctx), " uses cluster ",
                                     Quote(kc.cluster_name), ", which no file defines"));
  }
  Fields cf(*cluster, Describe("cluster", kc.cluster_name, *cluster), errors);
  if (cluster_defined) {
    kc.server = cf.String("server");
    if (kc.server.empty()) {
      errors.push_back(
          kc.cluster_name.empty()
              ? absl::StrCat("default cluster has no server defined (", cluster->file, ")")
              : absl::StrCat("no server found for cluster ", Quote(kc.cluster_name), " (",
                             cluster->file, ")"));
    }
  }

  // The user: absent means no credentials.
  const Entry* user = &kNone;
  if (auto it = m.users.find(kc.user_name); it != m.users.end()) {
    user = &it->second;
  } else if (ctx != &kNone && !kc.user_name.empty()) {
    kc.warnings.push_back(absl::StrCat(Describe("context", kc.context, *ctx), " uses user ",
                                       Quote(kc.user_name),
                                       ", which no file defines: requests are anonymous"));
  }

  if (errors.empty() && !cluster_defined) {
    // client-go's ErrEmptyConfig: the in-cluster configuration if possible, else an error.
    if (env != nullptr) {
      if (auto ic = InCluster(*env)) return *std::move(ic);
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "kubeconfig ", kc.source, ": invalid configuration: ", kEmptyConfig, " (",
        why_empty.empty() ? std::string("no cluster to use") : absl::StrJoin(why_empty, "; "),
        "; and this is not a pod with a service account, so there is no in-cluster "
        "configuration)"));
  }
  if (!cluster_defined) {
    errors.push_back(absl::StrCat("cluster has no server defined (cluster ", Quote(kc.cluster_name),
                                  " is not defined)"));
  }

  // client-go uses http:// for a server without a scheme, and TLS settings and credentials only
  // for https.
  bool https = absl::StartsWithIgnoreCase(kc.server, "https://");
  if (!kc.server.empty() && !https && !absl::StartsWithIgnoreCase(kc.server, "http://")) {
    if (absl::StrContains(kc.server, "://")) {
      errors.push_back(
          absl::StrCat(cf.what(), ": server ", Quote(kc.server), " is not an http(s) URL"));
    } else {
      kc.server = absl::StrCat("http://", kc.server);
    }
  }

  // Cluster fields.
  std::string ca =
      cf.DataOrFile("certificate-authority", "certificate-authority-data", "certificate-authority");
  bool insecure = cf.Bool("insecure-skip-tls-verify");
  std::string tls_server_name = cf.String("tls-server-name");
  kc.proxy_url = cf.String("proxy-url");
  if (!kc.proxy_url.empty()) {
    std::string scheme(kc.proxy_url.substr(0, kc.proxy_url.find("://")));
    if (kc.proxy_url.find("://") == std::string::npos ||
        (scheme != "http" && scheme != "https" && scheme != "socks5")) {
      errors.push_back(absl::StrCat(cf.what(), ": invalid 'proxy-url' ", Quote(kc.proxy_url),
                                    ": only http, https and socks5 proxies are supported"));
    }
  }
  if (insecure && !ca.empty()) {
    errors.push_back(
        absl::StrCat(cf.what(),
                     ": specifying a root certificates file with the insecure flag is not allowed "
                     "(remove insecure-skip-tls-verify or the certificate authority)"));
  }

  // User fields.
  Fields uf(*user, Describe("user", kc.user_name, *user), errors);
  std::string token = uf.String("token");
  std::string token_file = uf.Path("tokenFile");
  std::string cert = uf.DataOrFile("client-certificate", "client-cert-data", "client-cert");
  std::string key = uf.DataOrFile("client-key", "client-key-data", "client-key");
  bool has_cert = uf.Has("client-certificate") || uf.Has("client-certificate-data");
  bool has_key = uf.Has("client-key") || uf.Has("client-key-data");
  if (has_cert && !has_key) {
    errors.push_back(absl::StrCat(uf.what(),
                                  ": client-key-data or client-key must be specified to use the "
                                  "clientCert authentication method"));
  }
  bool basic = uf.Has("username") || uf.Has("password");
  if (basic && (!token.empty() || !token_file.empty())) {
    errors.push_back(absl::StrCat(uf.what(),
                                  ": more than one authentication method found (token and "
                                  "basicAuth), only one is allowed"));
  }
  if (https && !token_file.empty()) {
    auto content = base::ReadFile(token_file);
    std::string from_file = content.ok() ? std::string(absl::StripAsciiWhitespace(*content)) : "";
    if (!from_file.empty()) {
      token = from_file;
    } else if (token.empty()) {
      errors.push_back(
          absl::StrCat(uf.what(), ": tokenFile ", token_file, ": ",
                       content.ok() ? "the file is empty" : content.status().message()));
    }
  }
  if (!errors.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kubeconfig ", kc.source, ": invalid configuration: ", absl::StrJoin(errors, "; ")));
  }

  for (const char* unsupported : {"exec", "auth-provider"}) {
    if (uf.Has(unsupported)) {
      return absl::UnimplementedError(absl::StrCat(
          "kubeconfig ", kc.source, ": ", uf.what(),
          " authenticates with an exec plugin or auth provider, which Lifeboat does not run; "
          "use a kubeconfig with a client certificate or a token"));
    }
  }
  if (basic) {
    return absl::UnimplementedError(
        absl::StrCat("kubeconfig ", kc.source, ": ", uf.what(),
                     " uses basic authentication (username/password), which API servers no longer "
                     "accept (removed in "
                     "Kubernetes 1.19); use a client certificate or a token"));
  }
  for (const char* imp : {"as", "as-uid", "as-groups", "as-user-extra"}) {
    if (uf.Has(imp)) {
      return absl::UnimplementedError(
          absl::StrCat("kubeconfig ", kc.source, ": ", uf.what(), " sets `", imp,
                       "` (impersonation), which Lifeboat does not do; use a "
                       "kubeconfig for the identity itself"));
    }
  }

  if (https) {
    kc.ca_pem = std::move(ca);
    kc.insecure_skip_tls_verify = insecure;
    kc.tls_server_name = std::move(tls_server_name);
    kc.token = std::move(token);
    kc.token_file = std::move(token_file);
    if (!cert.empty()) {
      kc.client_cert_pem = std::move(cert);
      kc.client_key_pem = std::move(key);
    }
  } else if (!token.empty() || !token_file.empty() || has_cert) {
    kc.warnings.push_back(absl::StrCat("server ", kc.server, " is not https: ", uf.what(),
                                       "'s credentials are not sent"));
  }
  return kc;
}

absl::StatusOr<Merged> ParseFiles(const std::vector<std::pair<std::string, std::string>>& files) {
  Merged m;
  for (const auto& [path, text] : files) {
    auto docs = ParseDocuments(text);
    if (!docs.ok()) return Annotate(docs.status(), absl::StrCat("kubeconfig ", path));
    m.files.push_back(path);
    if (!docs->empty()) LB_RETURN_IF_ERROR(AddFile(docs->front(), path, m));
  }
  return m;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

}  // namespace

KubeconfigEnvironment KubeconfigEnvironment::FromProcess() {
  KubeconfigEnvironment env;
  env.kubeconfig = Env("KUBECONFIG");
  env.home = Env("HOME");
  env.service_host = Env("KUBERNETES_SERVICE_HOST");
  env.service_port = Env("KUBERNETES_SERVICE_PORT");
  return env;
}

absl::StatusOr<Kubeconfig> ParseKubeconfig(absl::string_view text, absl::string_view base_dir,
                                           absl::string_view source) {
  std::string fake_path = (fs::path(std::string(base_dir)) / "kubeconfig").string();
  LB_ASSIGN_OR_RETURN(Merged m, ParseFiles({{fake_path, std::string(text)}}));
  m.files = {std::string(source)};
  return Resolve(m, nullptr);
}

absl::StatusOr<Kubeconfig> LoadKubeconfig(absl::string_view explicit_path) {
  return LoadKubeconfig(explicit_path, KubeconfigEnvironment::FromProcess());
}

absl::StatusOr<Kubeconfig> LoadKubeconfig(absl::string_view explicit_path,
                                          const KubeconfigEnvironment& env) {
  std::vector<std::string> paths;
  if (!explicit_path.empty()) {
    paths.emplace_back(explicit_path);
  } else if (!env.kubeconfig.empty()) {
    std::set<std::string> seen;
    for (absl::string_view p : absl::StrSplit(env.kubeconfig, ':', absl::SkipEmpty())) {
      if (seen.insert(std::string(p)).second) paths.emplace_back(p);
    }
  } else if (!env.home.empty()) {
    paths.push_back((fs::path(env.home) / ".kube" / "config").string());
  }
  std::vector<std::pair<std::string, std::string>> files;
  std::vector<std::string> missing;
  for (const auto& p : paths) {
    auto text = base::ReadFile(p);
    if (!text.ok()) {
      // client-go skips missing files, except an explicit one; other read errors are errors.
      if (text.status().code() == absl::StatusCode::kNotFound && explicit_path.empty()) {
        missing.push_back(p);
        continue;
      }
      return absl::Status(text.status().code(),
                          absl::StrCat("cannot read kubeconfig: ", text.status().message()));
    }
    files.emplace_back(p, *std::move(text));
  }
  LB_ASSIGN_OR_RETURN(Merged m, ParseFiles(files));
  auto kc = Resolve(m, &env);
  if (!kc.ok() && files.empty() && !paths.empty()) {
    return absl::Status(
        kc.status().code(),
        absl::StrCat(kc.status().message(), " (not found: ", absl::StrJoin(missing, ", "), ")"));
  }
  if (kc.ok() && !kc->in_cluster && !missing.empty()) {
    kc->warnings.push_back(
        absl::StrCat("kubeconfig files not found (skipped): ", absl::StrJoin(missing, ", ")));
  }
  return kc;
}

std::string Kubeconfig::Flatten() const {
  Json cluster = {{"server", server}};
  if (!ca_pem.empty()) cluster["certificate-authority-data"] = absl::Base64Escape(ca_pem);
  if (insecure_skip_tls_verify) cluster["insecure-skip-tls-verify"] = true;
  if (!tls_server_name.empty()) cluster["tls-server-name"] = tls_server_name;
  if (!proxy_url.empty()) cluster["proxy-url"] = proxy_url;
  Json user = Json::object();
  if (!client_cert_pem.empty())
    user["client-certificate-data"] = absl::Base64Escape(client_cert_pem);
  if (!client_key_pem.empty()) user["client-key-data"] = absl::Base64Escape(client_key_pem);
  if (!token.empty()) user["token"] = token;
  Json doc = {
      {"apiVersion", "v1"},
      {"kind", "Config"},
      {"clusters", Json::array({{{"name", "lifeboat"}, {"cluster", cluster}}})},
      {"users", Json::array({{{"name", "lifeboat"}, {"user", user}}})},
      {"contexts", Json::array({{{"name", "lifeboat"},
                                 {"context", {{"cluster", "lifeboat"}, {"user", "lifeboat"}}}}})},
      {"current-context", "lifeboat"},
  };
  return ToYaml(doc);
}

}  // namespace lifeboat::kube
