#include "kube/kubeconfig.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

namespace lifeboat::kube {
namespace {
namespace fs = std::filesystem;

class KubeconfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lb-kc-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "certs");
    Write("certs/ca.crt", "CA-PEM");
    Write("certs/client.crt", "CERT-PEM");
    Write("certs/client.key", "KEY-PEM");
    Write("token", "  secret-token\n");
    ::unsetenv("KUBECONFIG");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& rel, const std::string& data) { std::ofstream(dir_ / rel) << data; }
  std::string Path(const std::string& rel) { return (dir_ / rel).string(); }
  fs::path dir_;
};

constexpr char kFiles[] = R"(apiVersion: v1
kind: Config
current-context: main
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority: certs/ca.crt
users:
- name: u
  user:
    client-certificate: certs/client.crt
    client-key: certs/client.key
contexts:
- name: main
  context: {cluster: c, user: u}
)";

TEST_F(KubeconfigTest, FilesRelativeToKubeconfig) {
  Write("kc", kFiles);
  auto kc = LoadKubeconfig(Path("kc"));
  ASSERT_TRUE(kc.ok()) << kc.status();
  EXPECT_EQ(kc->server, "https://127.0.0.1:6443");
  EXPECT_EQ(kc->ca_pem, "CA-PEM");
  EXPECT_EQ(kc->client_cert_pem, "CERT-PEM");
  EXPECT_EQ(kc->client_key_pem, "KEY-PEM");
  EXPECT_FALSE(kc->insecure_skip_tls_verify);
}

TEST_F(KubeconfigTest, InlineDataAndToken) {
  std::string text = std::string(R"(current-context: x
clusters:
- name: c
  cluster: {server: "https://h:1", certificate-authority-data: )") + absl::Base64Escape("CA2") + R"(}
users:
- name: u
  user: {token: abc}
contexts:
- name: x
  context: {cluster: c, user: u}
)";
  Write("kc", text);
  auto kc = LoadKubeconfig(Path("kc"));
  ASSERT_TRUE(kc.ok()) << kc.status();
  EXPECT_EQ(kc->ca_pem, "CA2");
  EXPECT_EQ(kc->token, "abc");
}

TEST_F(KubeconfigTest, TokenFileAndInsecure) {
  Write("kc", R"(current-context: x
clusters: [{name: c, cluster: {server: "https://h:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {tokenFile: token}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
)");
  auto kc = LoadKubeconfig(Path("kc"));
  ASSERT_TRUE(kc.ok()) << kc.status();
  EXPECT_EQ(kc->token, "secret-token");
  EXPECT_TRUE(kc->insecure_skip_tls_verify);
}

TEST_F(KubeconfigTest, EnvListMergesFirstWins) {
  Write("a", R"(current-context: x
clusters: [{name: c, cluster: {server: "https://first:1"}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
)");
  Write("b", R"(current-context: other
clusters: [{name: c, cluster: {server: "https://second:1"}}]
users: [{name: u, user: {token: t}}]
)");
  ::setenv("KUBECONFIG", (Path("a") + ":" + Path("missing") + ":" + Path("b")).c_str(), 1);
  auto kc = LoadKubeconfig("");
  ::unsetenv("KUBECONFIG");
  ASSERT_TRUE(kc.ok()) << kc.status();
  EXPECT_EQ(kc->server, "https://first:1");
  EXPECT_EQ(kc->token, "t");
  EXPECT_EQ(kc->context, "x");
}

TEST_F(KubeconfigTest, FlattenIsSelfContained) {
  Write("kc", kFiles);
  auto kc = LoadKubeconfig(Path("kc"));
  ASSERT_TRUE(kc.ok());
  auto again = ParseKubeconfig(kc->Flatten(), "/nonexistent", "flat");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->server, kc->server);
  EXPECT_EQ(again->ca_pem, "CA-PEM");
  EXPECT_EQ(again->client_key_pem, "KEY-PEM");
}

TEST_F(KubeconfigTest, ClearErrors) {
  struct Case {
    const char* text;
    const char* expect;
  } cases[] = {
      {"clusters: []\n", "no current-context"},
      {"current-context: x\n", "context \"x\""},
      {"current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n", "cluster \"c\""},
      {"current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\nclusters: [{name: c, cluster: {}}]\n",
       "has no server"},
      {"current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\nclusters: [{name: c, cluster: "
       "{server: s, certificate-authority: nope.crt}}]\n",
       "nope.crt"},
      {"current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\nclusters: [{name: c, "
       "cluster: {server: s}}]\nusers: [{name: u, user: {exec: {command: aws}}}]\n",
       "exec plugin"},
      {"current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\nclusters: [{name: c, "
       "cluster: {server: s}}]\nusers: [{name: u, user: {client-certificate-data: QQ==}}]\n",
       "without a key"},
      {"a: [b\n", "invalid YAML"},
      {"clusters: 5\n", "must be a list"},
  };
  for (const auto& c : cases) {
    Write("kc", c.text);
    auto kc = LoadKubeconfig(Path("kc"));
    ASSERT_FALSE(kc.ok()) << c.text;
    EXPECT_NE(kc.status().message().find(c.expect), absl::string_view::npos)
        << c.text << " -> " << kc.status();
  }
  EXPECT_EQ(LoadKubeconfig(Path("does-not-exist")).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace lifeboat::kube
