#include "kube/kubeconfig.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

// The cases name only the fields they check (designated initializers); GCC 12 warns about the rest.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace lifeboat::kube {
namespace {
namespace fs = std::filesystem;

// Each case is a set of files under a fresh directory and a way to load them; "@" in file
// contents and in the paths below stands for that directory.
struct Case {
  const char* name;
  std::vector<std::pair<std::string, std::string>> files = {};  // relative path -> content
  std::string explicit_path = {};                               // relative, "" for none
  std::string kubeconfig_env = {};                              // ':'-separated relative paths
  bool in_cluster = false;  // KUBERNETES_SERVICE_HOST/PORT set and @/sa/token exists
  // Expectations: an error whose message contains `error`, or these fields.
  std::string error = {};
  absl::StatusCode code = absl::StatusCode::kOk;
  std::string server = {};
  std::string context = "";
  std::string token = {};
  std::string ca = {};
  std::string cert = {};
  std::string key = {};
  std::string warning = {};  // a substring of one of the warnings
  std::string tls_server_name = {};
  std::string proxy_url = {};
  bool insecure = false;
};

std::string B64(absl::string_view s) { return absl::Base64Escape(s); }

// bootkube v0.14's admin kubeconfig shape (testdata/bootkube/auth/kubeconfig).
const std::string kBootkubeAdmin = absl::StrCat(R"(apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: )",
                                                B64("CA"), R"(
users:
- name: admin
  user:
    client-certificate-data: )",
                                                B64("CERT"), R"(
    client-key-data: )",
                                                B64("KEY"), R"(
contexts:
- context:
    cluster: local
    user: admin
)");

const std::vector<Case>& Cases() {
  static const auto* cases = new std::vector<Case>{
      // --- names and current-context ---
      {.name = "bootkube: unnamed context, no current-context",
       .files = {{"kc", kBootkubeAdmin}},
       .explicit_path = "kc",
       .server = "https://127.0.0.1:6443",
       .ca = "CA",
       .cert = "CERT",
       .key = "KEY"},
      {.name = "current-context \"\" is the same as none",
       .files = {{"kc", kBootkubeAdmin + "current-context: \"\"\n"}},
       .explicit_path = "kc",
       .server = "https://127.0.0.1:6443",
       .ca = "CA",
       .cert = "CERT",
       .key = "KEY"},
      {.name = "unnamed cluster and user",
       .files = {{"kc", R"(clusters: [{cluster: {server: "https://h:1"}}]
users: [{user: {token: t}}]
contexts: [{context: {}}]
)"}},
       .explicit_path = "kc",
       .server = "https://h:1",
       .token = "t"},
      {.name = "no contexts: the empty context uses the unnamed cluster and user",
       .files =
           {{"kc",
             "clusters: [{cluster: {server: \"https://h:1\"}}]\nusers: [{user: {token: t}}]\n"}},
       .explicit_path = "kc",
       .server = "https://h:1",
       .token = "t"},
      {.name = "a named context is not chosen without current-context",
       .files = {{"kc", R"(clusters: [{name: c, cluster: {server: "https://h:1"}}]
contexts: [{name: x, context: {cluster: c}}]
)"}},
       .explicit_path = "kc",
       .error = "no configuration has been provided",
       .code = absl::StatusCode::kInvalidArgument},
      {.name = "current-context naming a missing context",
       .files = {{"kc", kBootkubeAdmin + "current-context: prod\n"}},
       .explicit_path = "kc",
       .error = "context was not found for specified context: prod",
       .code = absl::StatusCode::kInvalidArgument},
      {.name = "current-context naming a missing context: no in-cluster fallback",
       .files = {{"kc", kBootkubeAdmin + "current-context: prod\n"}},
       .explicit_path = "kc",
       .in_cluster = true,
       .error = "context was not found for specified context: prod",
       .code = absl::StatusCode::kInvalidArgument},
      {.name = "the same name in different lists",
       .files = {{"kc", R"(current-context: local
clusters: [{name: local, cluster: {server: "https://h:1"}}]
users: [{name: local, user: {token: t}}]
contexts: [{name: local, context: {cluster: local, user: local}}]
)"}},
       .explicit_path = "kc",
       .server = "https://h:1",
       .context = "local",
       .token = "t"},

      // --- duplicates within one file ---
      {.name = "duplicate context names in one file",
       .files = {{"kc", kBootkubeAdmin + "- context: {}\n  name: other\n" +
                            "- context: {}\n  name: other\n"}},
       .explicit_path = "kc",
       .error = "duplicate name \"other\" in list `contexts`",
       .code = absl::StatusCode::kInvalidArgument},
      {.name = "two unnamed contexts in one file",
       .files = {{"kc", kBootkubeAdmin + "- context: {cluster: local}\n"}},
       .explicit_path = "kc",
       .error = "duplicate name \"\" in list `contexts`",
       .code = absl::StatusCode::kInvalidArgument},
      {.name = "duplicate user names in one file",
       .files = {{"kc", R"(clusters: [{cluster: {server: "https://h:1"}}]
users: [{name: u, user: {token: a}}, {name: u, user: {token: b}}]
)"}},
       .explicit_path = "kc",
       .error = "duplicate name \"u\" in list `users`",
       .code = absl::StatusCode::kInvalidArgument},
      {.name = "duplicate cluster names in one file of KUBECONFIG",
       .files = {{"a", "clusters: [{name: c, cluster: {server: \"https://h:1\"}}, {name: c}]\n"},
                 {"b", "clusters: [{cluster: {server: \"https://h:2\"}}]\n"}},
       .kubeconfig_env = "b:a",
       .error = "duplicate name \"c\" in list `clusters`",
       .code = absl::StatusCode::kInvalidArgument},

      // --- several files through KUBECONFIG ---
      {.name = "KUBECONFIG: the first file to define a name wins, entries are not merged",
       .files = {{"a", R"(current-context: x
clusters: [{name: c, cluster: {server: "https://first:1"}}]
users: [{name: u, user: {token: from-a}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
)"},
                 {"b", absl::StrCat(R"(current-context: second
clusters: [{name: c, cluster: {server: "https://second:1", certificate-authority-data: )",
                                    B64("CA-B"), R"(}}]
users: [{name: u, user: {token: from-b, client-certificate-data: )",
                                    B64("CERT-B"), ", client-key-data: ", B64("KEY-B"), R"(}}]
contexts: [{name: x, context: {cluster: other}}, {name: second, context: {cluster: c}}]
)")}},
       .kubeconfig_env = "a:b",
       .server = "https://first:1",
       .context = "x",
       .token = "from-a"},
      {.name = "KUBECONFIG: names only the second file defines are used",
       .files = {{"a",
                  "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"},
                 {"b", R"(current-context: second
clusters: [{name: c, cluster: {server: "https://second:1"}}]
users: [{name: u, user: {token: t}}]
)"}},
       .kubeconfig_env = "a:b",
       .server = "https://second:1",
       .context = "x",
       .token = "t"},
      {.name = "KUBECONFIG: current-context is the first non-empty one",
       .files = {{"a", "clusters: [{name: c, cluster: {server: \"https://a:1\"}}]\n"},
                 {"b",
                  "current-context: second\ncontexts: [{name: second, context: {cluster: c}}]\n"},
                 {"c", "current-context: z\n"}},
       .kubeconfig_env = "a:b:c",
       .server = "https://a:1",
       .context = "second"},
      {.name = "KUBECONFIG: two bootkube kubeconfigs, the first unnamed context wins",
       .files = {{"admin", kBootkubeAdmin},
                 {"kubelet", R"(clusters: [{name: local, cluster: {server: "https://other:6443"}}]
users: [{name: kubelet, user: {token: abcdef.0123456789abcdef}}]
contexts: [{context: {cluster: local, user: kubelet}}]
)"}},
       .kubeconfig_env = "admin:kubelet",
       .server = "https://127.0.0.1:6443",
       .ca = "CA",
       .cert = "CERT",
       .key = "KEY"},
      {.name = "KUBECONFIG: relative paths resolve against the file that defined the entry",
       .files = {{"a/ca.crt", "CA-A"},
                 {"b/ca.crt", "CA-B"},
                 {"b/client.crt", "CERT-B"},
                 {"b/keys/client.key", "KEY-B"},
                 {"b/token", "TOKEN-B\n"},
                 {"a/kc",
                  "clusters: [{name: c, cluster: {server: \"https://h:1\", certificate-authority: "
                  "ca.crt}}]\n"
                  "contexts: [{context: {cluster: c, user: u}}]\n"},
                 {"b/kc",
                  "users: [{name: u, user: {client-certificate: client.crt, client-key: "
                  "keys/client.key, "
                  "tokenFile: ./token}}]\n"}},
       .kubeconfig_env = "a/kc:b/kc",
       .server = "https://h:1",
       .token = "TOKEN-B",
       .ca = "CA-A",
       .cert = "CERT-B",
       .key = "KEY-B"},
      {.name = "KUBECONFIG: missing files are skipped",
       .files = {{"b", kBootkubeAdmin}},
       .kubeconfig_env = "missing::b:also-missing",
       .server = "https://127.0.0.1:6443",
       .ca = "CA",
       .cert = "CERT",
       .key = "KEY",
       .warning = "not found (skipped)"},
      {.name = "KUBECONFIG: every file missing",
       .kubeconfig_env = "missing",
       .error = "no configuration has been provided",
       .code = absl::StatusCode::kInvalidArgument},
      {.name = "KUBECONFIG: every file missing, in a pod: in-cluster configuration",
       .kubeconfig_env = "missing",
       .in_cluster = true,
       .server = "https://10.3.0.1:443",
       .token = "sa-token",
       .ca = "SA-CA"},
      {.name = "KUBECONFIG: a file that cannot be parsed is an error even after a good one",
       .files = {{"a", kBootkubeAdmin}, {"b", "clusters: [oops\n"}},
       .kubeconfig_env = "a:b",
       .error = "invalid YAML",
       .code = absl::StatusCode::kInvalidArgument},
      {.name = "an explicit path ignores KUBECONFIG",
       .files = {{"a", kBootkubeAdmin},
                 {"b", "clusters: [{cluster: {server: \"https://b:1\"}}]\n"}},
       .explicit_path = "b",
       .kubeconfig_env = "a",
       .server = "https://b:1"},
      {.name = "an explicit path that does not exist is an error",
       .files = {{"a", kBootkubeAdmin}},
       .explicit_path = "missing",
       .kubeconfig_env = "a",
       .in_cluster = true,
       .error = "missing",
       .code = absl::StatusCode::kNotFound},

      // --- absent cluster or user, empty configuration ---
      {.name = "context naming an absent cluster",
       .files = {{"kc",
                  "contexts: [{context: {cluster: gone, user: u}}]\nusers: [{name: u, user: "
                  "{token: t}}]\n"}},
       .explicit_path = "kc",
       .error =
           "invalid configuration: no configuration has been provided, try setting "
           "KUBERNETES_MASTER "
           "environment variable (context \"\" (@/kc) uses cluster \"gone\", which no file defines",
       .code = absl::StatusCode::kInvalidArgument},
      {.name = "context naming an absent cluster, in a pod: in-cluster configuration",
       .files = {{"kc", "contexts: [{context: {cluster: gone}}]\n"}},
       .explicit_path = "kc",
       .in_cluster = true,
       .server = "https://10.3.0.1:443",
       .token = "sa-token",
       .ca = "SA-CA"},
      {.name = "an empty explicit file, in a pod: in-cluster configuration",
       .files = {{"kc", "# nothing\n"}},
       .explicit_path = "kc",
       .in_cluster = true,
       .server = "https://10.3.0.1:443",
       .token = "sa-token",
       .ca = "SA-CA"},
      {.name = "an empty explicit file",
       .files = {{"kc", ""}},
       .explicit_path = "kc",
       .error = "no configuration has been provided",
       .code = absl::StatusCode::kInvalidArgument},
      {.name = "context naming an absent user: anonymous",
       .files = {{"kc",
                  "clusters: [{name: c, cluster: {server: \"https://h:1\"}}]\n"
                  "contexts: [{context: {cluster: c, user: admin}}]\n"}},
       .explicit_path = "kc",
       .server = "https://h:1",
       .warning = "uses user \"admin\", which no file defines"},
      {.name = "a defined cluster without a server",
       .files = {{"kc",
                  "clusters: [{name: c, cluster: {insecure-skip-tls-verify: true}}]\n"
                  "contexts: [{context: {cluster: c}}]\n"}},
       .explicit_path = "kc",
       .in_cluster = true,
       .error = "no server found for cluster \"c\"",
       .code = absl::StatusCode::kInvalidArgument},
      {.name = "the unnamed cluster without a server",
       .files = {{"kc", "clusters: [{cluster: {}}]\n"}},
       .explicit_path = "kc",
       .error = "default cluster has no server defined",
       .code = absl::StatusCode::kInvalidArgument},

      // --- server, TLS ---
      {.name = "insecure-skip-tls-verify with a CA is refused",
       .files =
           {{"kc", absl::StrCat(
                       "clusters: [{cluster: {server: \"https://h:1\", insecure-skip-tls-verify: "
                       "true, certificate-authority-data: ",
                       B64("CA"), "}}]\n")}},
       .explicit_path = "kc",
       .error = "root certificates file with the insecure flag is not allowed",
       .code = absl::StatusCode::kInvalidArgument},
      {.name = "insecure-skip-tls-verify alone",
       .files =
           {{"kc",
             "clusters: [{cluster: {server: \"https://h:1\", insecure-skip-tls-verify: true}}]\n"}},
       .explicit_path = "kc",
       .server = "https://h:1",
       .insecure = true},
      {.name = "certificate-authority and its data both set",
       .files =
           {{"ca", "CA"},
            {"kc", absl::StrCat(
                       "clusters: [{cluster: {server: \"https://h:1\", certificate-authority: ca, "
                       "certificate-authority-data: ",
                       B64("CA"), "}}]\n")}},
       .explicit_path = "kc",
       .error = "certificate-authority-data and certificate-authority are both specified",
       .code = absl::StatusCode::kInvalidArgument},
      {.name = "an unreadable certificate-authority names the file",
       .files = {{"kc",
                  "clusters: [{cluster: {server: \"https://h:1\", certificate-authority: "
                  "nope.crt}}]\n"}},
       .explicit_path = "kc",
       .error = "unable to read certificate-authority @/nope.crt",
       .code = absl::StatusCode::kInvalidArgument},
      {.name = "tls-server-name and proxy-url are carried",
       .files = {{"kc",
                  "clusters: [{cluster: {server: \"https://10.0.0.1:6443\", tls-server-name: "
                  "kubernetes.default, proxy-url: \"socks5://127.0.0.1:1080\"}}]\n"}},
       .explicit_path = "kc",
       .server = "https://10.0.0.1:6443",
       .tls_server_name = "kubernetes.default",
       .proxy_url = "socks5://127.0.0.1:1080"},
      {.name = "a proxy-url of another scheme",
       .files = {{"kc",
                  "clusters: [{cluster: {server: \"https://h:1\", proxy-url: \"ftp://p:1\"}}]\n"}},
       .explicit_path = "kc",
       .error = "invalid 'proxy-url' \"ftp://p:1\"",
       .code = absl::StatusCode::kInvalidArgument},
      {.name = "an http server gets no credentials",
       .files =
           {{"kc",
             absl::StrCat(
                 "clusters: [{cluster: {server: \"http://h:8080\", certificate-authority-data: ",
                 B64("CA"), "}}]\nusers: [{user: {token: t}}]\n")}},
       .explicit_path = "kc",
       .server = "http://h:8080",
       .warning = "credentials are not sent"},
      {.name = "a server without a scheme is http",
       .files =
           {{"kc",
             "clusters: [{cluster: {server: \"127.0.0.1:8080\"}}]\nusers: [{user: {token: t}}]\n"}},
       .explicit_path = "kc",
       .server = "http://127.0.0.1:8080",
       .warning = "credentials are not sent"},

      // --- credentials ---
      {.name = "tokenFile wins over token when readable",
       .files = {{"tok", " from-file\n"},
                 {"kc",
                  "clusters: [{cluster: {server: \"https://h:1\"}}]\n"
                  "users: [{user: {token: inline, tokenFile: tok}}]\n"}},
       .explicit_path = "kc",
       .server = "https://h:1",
       .token = "from-file"},
      {.name = "token when tokenFile is unreadable",
       .files = {{"kc",
                  "clusters: [{cluster: {server: \"https://h:1\"}}]\n"
                  "users: [{user: {token: inline, tokenFile: nope}}]\n"}},
       .explicit_path = "kc",
       .server = "https://h:1",
       .token = "inline"},
      {.name = "an unreadable tokenFile and no token",
       .files = {{"kc",
                  "clusters: [{cluster: {server: \"https://h:1\"}}]\nusers: [{name: sa, user: "
                  "{tokenFile: nope}}]\n"
                  "contexts: [{context: {cluster: \"\", user: sa}}]\n"}},
       .explicit_path = "kc",
       .error = "user \"sa\" (@/kc): tokenFile @/nope",
       .code = absl::StatusCode::kInvalidArgument},
      {.name = "an empty tokenFile and no token",
       .files = {{"tok", "\n"},
                 {"kc",
                  "clusters: [{cluster: {server: \"https://h:1\"}}]\n"
                  "users: [{user: {tokenFile: tok}}]\n"}},
       .explicit_path = "kc",
       .error = "the file is empty",
       .code = absl::StatusCode::kInvalidArgument},
      {.name = "client-certificate and its data both set",
       .files = {{"c", "C"},
                 {"kc", absl::StrCat(
                            "clusters: [{cluster: {server: \"https://h:1\"}}]\n"
                            "users: [{user: {client-certificate: c, client-certificate-data: ",
                            B64("C"), ", client-key-data: ", B64("K"), "}}]\n")}},
       .explicit_path = "kc",
       .error = "client-cert-data and client-cert are both specified",
       .code = absl::StatusCode::kInvalidArgument},
      {.name = "a client certificate without a key",
       .files = {{"kc", absl::StrCat("clusters: [{cluster: {server: \"https://h:1\"}}]\n"
                                     "users: [{user: {client-certificate-data: ",
                                     B64("C"), "}}]\n")}},
       .explicit_path = "kc",
       .error = "client-key-data or client-key must be specified",
       .code = absl::StatusCode::kInvalidArgument},
      {.name = "a client key without a certificate is ignored",
       .files = {{"kc", absl::StrCat("clusters: [{cluster: {server: \"https://h:1\"}}]\n"
                                     "users: [{user: {token: t, client-key-data: ",
                                     B64("K"), "}}]\n")}},
       .explicit_path = "kc",
       .server = "https://h:1",
       .token = "t"},
      {.name = "a token and a client certificate together",
       .files = {{"kc", absl::StrCat("clusters: [{cluster: {server: \"https://h:1\"}}]\n"
                                     "users: [{user: {token: t, client-certificate-data: ",
                                     B64("C"), ", client-key-data: ", B64("K"), "}}]\n")}},
       .explicit_path = "kc",
       .server = "https://h:1",
       .token = "t",
       .cert = "C",
       .key = "K"},
      {.name = "token and basic auth together",
       .files = {{"kc",
                  "clusters: [{cluster: {server: \"https://h:1\"}}]\n"
                  "users: [{user: {token: t, username: a, password: b}}]\n"}},
       .explicit_path = "kc",
       .error = "more than one authentication method",
       .code = absl::StatusCode::kInvalidArgument},
      {.name = "basic auth",
       .files = {{"kc",
                  "clusters: [{cluster: {server: \"https://h:1\"}}]\nusers: [{user: {username: a, "
                  "password: b}}]\n"}},
       .explicit_path = "kc",
       .error = "basic authentication",
       .code = absl::StatusCode::kUnimplemented},
      {.name = "exec plugin",
       .files = {{"kc",
                  "clusters: [{cluster: {server: \"https://h:1\"}}]\nusers: [{user: {exec: "
                  "{command: aws}}}]\n"}},
       .explicit_path = "kc",
       .error = "exec plugin",
       .code = absl::StatusCode::kUnimplemented},
      {.name = "impersonation",
       .files = {{"kc",
                  "clusters: [{cluster: {server: \"https://h:1\"}}]\nusers: [{user: {token: t, as: "
                  "bob}}]\n"}},
       .explicit_path = "kc",
       .error = "impersonation",
       .code = absl::StatusCode::kUnimplemented},

      // --- malformed input: errors, never a crash ---
      {.name = "wrong field types are reported together",
       .files = {{"kc", "clusters: [{cluster: {server: 5, insecure-skip-tls-verify: \"yes\"}}]\n"}},
       .explicit_path = "kc",
       .error = "cluster \"\" (@/kc): `server` must be a string; default cluster has no "
                "server defined",
       .code = absl::StatusCode::kInvalidArgument},
      {.name = "a name that is not a string",
       .files = {{"kc", "clusters: [{name: [a], cluster: {}}]\n"}},
       .explicit_path = "kc",
       .error = "has a name that is not a string",
       .code = absl::StatusCode::kInvalidArgument},
      {.name = "a list that is not a list",
       .files = {{"kc", "clusters: 5\n"}},
       .explicit_path = "kc",
       .error = "`clusters` must be a list",
       .code = absl::StatusCode::kInvalidArgument},
      {.name = "invalid YAML",
       .files = {{"kc", "a: [b\n"}},
       .explicit_path = "kc",
       .error = "invalid YAML",
       .code = absl::StatusCode::kInvalidArgument},
      {.name = "bad base64",
       .files = {{"kc",
                  "clusters: [{cluster: {server: \"https://h:1\", certificate-authority-data: "
                  "\"!!\"}}]\n"}},
       .explicit_path = "kc",
       .error = "is not valid base64",
       .code = absl::StatusCode::kInvalidArgument},
  };
  return *cases;
}

class KubeconfigCaseTest : public ::testing::TestWithParam<size_t> {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / absl::StrCat("lb-kc-test-", ::getpid(), "-", GetParam());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string At(absl::string_view s) const {
    return absl::StrReplaceAll(s, {{"@", dir_.string()}});
  }
  void Write(const std::string& rel, const std::string& data) {
    fs::create_directories((dir_ / rel).parent_path());
    std::ofstream(dir_ / rel) << data;
  }
  fs::path dir_;
};

TEST_P(KubeconfigCaseTest, FollowsClientGo) {
  const Case& c = Cases()[GetParam()];
  SCOPED_TRACE(c.name);
  for (const auto& [rel, data] : c.files) Write(rel, At(data));
  KubeconfigEnvironment env;
  env.service_account_dir = (dir_ / "sa").string();
  if (!c.kubeconfig_env.empty()) {
    std::vector<std::string> paths;
    for (absl::string_view p : absl::StrSplit(c.kubeconfig_env, ':')) {
      paths.push_back(p.empty() ? "" : (dir_ / std::string(p)).string());
    }
    env.kubeconfig = absl::StrJoin(paths, ":");
  }
  env.home = (dir_ / "home").string();
  if (c.in_cluster) {
    env.service_host = "10.3.0.1";
    env.service_port = "443";
    Write("sa/token", "sa-token\n");
    Write("sa/ca.crt", "SA-CA");
  }
  std::string explicit_path = c.explicit_path.empty() ? "" : (dir_ / c.explicit_path).string();
  auto kc = LoadKubeconfig(explicit_path, env);
  if (!c.error.empty()) {
    ASSERT_FALSE(kc.ok()) << "loaded " << kc->server;
    EXPECT_EQ(kc.status().code(), c.code) << kc.status();
    EXPECT_NE(kc.status().message().find(At(c.error)), absl::string_view::npos) << kc.status();
    return;
  }
  ASSERT_TRUE(kc.ok()) << kc.status();
  EXPECT_EQ(kc->server, c.server);
  EXPECT_EQ(kc->context, c.context);
  EXPECT_EQ(kc->token, c.token);
  EXPECT_EQ(kc->ca_pem, c.ca);
  EXPECT_EQ(kc->client_cert_pem, c.cert);
  EXPECT_EQ(kc->client_key_pem, c.key);
  EXPECT_EQ(kc->tls_server_name, c.tls_server_name);
  EXPECT_EQ(kc->proxy_url, c.proxy_url);
  EXPECT_EQ(kc->insecure_skip_tls_verify, c.insecure);
  EXPECT_EQ(kc->in_cluster, c.in_cluster);
  if (!c.warning.empty()) {
    EXPECT_NE(absl::StrJoin(kc->warnings, "\n").find(c.warning), std::string::npos)
        << absl::StrJoin(kc->warnings, "\n");
  } else {
    EXPECT_TRUE(kc->warnings.empty()) << absl::StrJoin(kc->warnings, "\n");
  }
}

INSTANTIATE_TEST_SUITE_P(Rules, KubeconfigCaseTest, ::testing::Range<size_t>(0, Cases().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           std::string n;
                           for (char ch : std::string(Cases()[info.param].name)) {
                             n += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           }
                           return absl::StrCat(info.param, "_", n.substr(0, 60));
                         });

TEST(KubeconfigTest, HomeConfigWhenNothingElseIsGiven) {
  fs::path dir = fs::temp_directory_path() / absl::StrCat("lb-kc-home-", ::getpid());
  fs::create_directories(dir / ".kube");
  std::ofstream(dir / ".kube" / "config") << kBootkubeAdmin;
  KubeconfigEnvironment env;
  env.home = dir.string();
  auto kc = LoadKubeconfig("", env);
  fs::remove_all(dir);
  ASSERT_TRUE(kc.ok()) << kc.status();
  EXPECT_EQ(kc->server, "https://127.0.0.1:6443");
  EXPECT_EQ(kc->source, (dir / ".kube" / "config").string());
}

TEST(KubeconfigTest, FlattenIsSelfContained) {
  std::string text = absl::StrCat(kBootkubeAdmin, "");
  text = absl::StrReplaceAll(text,
                             {{"server: https://127.0.0.1:6443",
                               "server: https://127.0.0.1:6443\n    tls-server-name: kubernetes"}});
  auto kc = ParseKubeconfig(text, "/nonexistent", "bootkube");
  ASSERT_TRUE(kc.ok()) << kc.status();
  auto again = ParseKubeconfig(kc->Flatten(), "/nonexistent", "flat");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->server, kc->server);
  EXPECT_EQ(again->ca_pem, "CA");
  EXPECT_EQ(again->client_cert_pem, "CERT");
  EXPECT_EQ(again->client_key_pem, "KEY");
  EXPECT_EQ(again->tls_server_name, "kubernetes");
  EXPECT_EQ(again->context, "lifeboat");
}

// The files bootkube v0.14 renders (testdata/bootkube/README.md says which template each mirrors).
std::string BootkubeAsset(const std::string& rel) {
  return absl::StrCat(LIFEBOAT_SOURCE_DIR, "/testdata/bootkube/assets/", rel);
}

TEST(BootkubeShapes, AdminKubeconfig) {
  auto kc = LoadKubeconfig(BootkubeAsset("auth/kubeconfig"), KubeconfigEnvironment{});
  ASSERT_TRUE(kc.ok()) << kc.status();
  EXPECT_EQ(kc->context, "");
  EXPECT_EQ(kc->cluster_name, "local");
  EXPECT_EQ(kc->user_name, "admin");
  EXPECT_EQ(kc->server, "https://127.0.0.1:1");
  EXPECT_NE(kc->ca_pem.find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_NE(kc->client_cert_pem.find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_NE(kc->client_key_pem.find("PRIVATE KEY"), std::string::npos);
  EXPECT_TRUE(kc->token.empty());
  EXPECT_TRUE(kc->warnings.empty());
}

TEST(BootkubeShapes, KubeletKubeconfig) {
  auto kc = LoadKubeconfig(BootkubeAsset("auth/kubeconfig-kubelet"), KubeconfigEnvironment{});
  ASSERT_TRUE(kc.ok()) << kc.status();
  EXPECT_EQ(kc->user_name, "kubelet");
  EXPECT_EQ(kc->token, "07401b.f395accd246ae52d");
  EXPECT_TRUE(kc->client_cert_pem.empty());
}

// The ConfigMap the checkpointer mounts: no `kind`, the service account's CA and token by
// absolute path.
TEST(BootkubeShapes, KubeconfigInClusterConfigMap) {
  std::ifstream in(BootkubeAsset("manifests/kubeconfig-in-cluster.yaml"));
  auto docs = ParseDocuments(std::string(std::istreambuf_iterator<char>(in), {}));
  ASSERT_TRUE(docs.ok() && docs->size() == 1) << docs.status();
  const std::string text = (*docs)[0]["data"]["kubeconfig"].get<std::string>();
  ASSERT_EQ(text.find("kind:"), std::string::npos)
      << "bootkube's in-cluster kubeconfig has no kind";

  fs::path dir = fs::temp_directory_path() / absl::StrCat("lb-kc-incluster-", ::getpid());
  fs::create_directories(dir / "sa");
  std::ofstream(dir / "sa" / "ca.crt") << "SA-CA";
  std::ofstream(dir / "sa" / "token") << "sa-token\n";
  std::ofstream(dir / "kubeconfig") << absl::StrReplaceAll(
      text, {{"/var/run/secrets/kubernetes.io/serviceaccount", (dir / "sa").string()}});
  auto kc = LoadKubeconfig((dir / "kubeconfig").string(), KubeconfigEnvironment{});
  ASSERT_TRUE(kc.ok()) << kc.status();
  EXPECT_EQ(kc->server, "https://127.0.0.1:1");
  EXPECT_EQ(kc->user_name, "service-account");
  EXPECT_EQ(kc->ca_pem, "SA-CA");
  EXPECT_EQ(kc->token, "sa-token");
  EXPECT_EQ(kc->token_file, (dir / "sa" / "token").string());
  EXPECT_FALSE(kc->in_cluster) << "a kubeconfig naming a server is used as it is";

  // Outside a pod the service account's files are missing: the error names them.
  if (!fs::exists("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")) {
    std::ofstream(dir / "kubeconfig") << text;
    kc = LoadKubeconfig((dir / "kubeconfig").string(), KubeconfigEnvironment{});
    ASSERT_FALSE(kc.ok());
    EXPECT_NE(kc.status().message().find("cluster \"local\" (" + (dir / "kubeconfig").string() +
                                         "): unable to read certificate-authority "
                                         "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"),
              std::string::npos)
        << kc.status();
    EXPECT_NE(
        kc.status().message().find("tokenFile /var/run/secrets/kubernetes.io/serviceaccount/token"),
        std::string::npos)
        << kc.status();
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace lifeboat::kube
