#include "node/kubelet.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "testing/process.h"
#include "testing/servers.h"

namespace lifeboat::node {
namespace {

namespace fs = std::filesystem;
using lifeboat::testing::Pki;
using lifeboat::testing::Running;
using lifeboat::testing::UnusedLoopbackPort;
constexpr char kPods[] = R"({"kind":"PodList","apiVersion":"v1","metadata":{},"items":[]})";

// A CA, a serving certificate and a client certificate made with the openssl CLI.
constexpr char kPkiScript[] =
    "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 -subj /CN=test-ca && "
    "openssl req -x509 -newkey rsa:2048 -nodes -keyout server.key -out server.crt -days 1 -subj /CN=kubelet && "
    "openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=checkpointer && "
    "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 1";

TEST(KubeletClientTest, ReadOnlyPort) {
  Running<httplib::Server> ro(std::make_unique<httplib::Server>());
  ro.server().Get("/pods", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kPods, "application/json");
  });
  KubeletOptions o;
  o.secure_port = 0;
  o.read_only_port = ro.port();
  auto c = KubeletClient::Create(o, nullptr);
  ASSERT_TRUE(c.ok()) << c.status();
  auto body = (*c)->GetPods();
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, std::string(kPods));
  EXPECT_EQ((*c)->last_url(), "http://127.0.0.1:" + std::to_string(ro.port()) + "/pods");
}

TEST(KubeletClientTest, SecurePortWithClientCertificateAndToken) {
  Pki pki(kPkiScript);
  ASSERT_TRUE(pki.ok());
  auto server = std::make_unique<httplib::SSLServer>(pki.Path("server.crt").c_str(), pki.Path("server.key").c_str(),
                                                     pki.Path("ca.crt").c_str());
  ASSERT_TRUE(server->is_valid());
  Running<httplib::SSLServer> tls(std::move(server));
  std::string seen_auth;
  tls.server().Get("/pods", [&](const httplib::Request& req, httplib::Response& res) {
    seen_auth = req.get_header_value("Authorization");
    res.set_content(kPods, "application/json");
  });
  kube::Kubeconfig creds;
  creds.client_cert_pem = pki.Read("client.crt");
  creds.client_key_pem = pki.Read("client.key");
  creds.token = "abc";
  KubeletOptions o;
  o.secure_port = tls.port();
  o.read_only_port = 0;
  auto c = KubeletClient::Create(o, &creds);
  ASSERT_TRUE(c.ok()) << c.status();
  auto body = (*c)->GetPods();
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(seen_auth, "") << "no CA to verify the kubelet: the client certificate only, never the token";

  // Without the client certificate the TLS server (which requires one) refuses.
  kube::Kubeconfig token_only;
  token_only.token = "abc";
  auto anon = KubeletClient::Create(o, &token_only);
  ASSERT_TRUE(anon.ok());
  auto refused = (*anon)->GetPods();
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
}

TEST(KubeletClientTest, FallsBackToReadOnlyAndRetriesSecureLater) {
  Pki pki(kPkiScript);
  ASSERT_TRUE(pki.ok());
  Running<httplib::Server> ro(std::make_unique<httplib::Server>());
  int ro_calls = 0;
  ro.server().Get("/pods", [&](const httplib::Request&, httplib::Response& res) {
    ++ro_calls;
    res.set_content(kPods, "application/json");
  });
  Running<httplib::SSLServer> secure(
      std::make_unique<httplib::SSLServer>(pki.Path("server.crt").c_str(), pki.Path("server.key").c_str()));
  int secure_calls = 0;
  secure.server().Get("/pods", [&](const httplib::Request&, httplib::Response& res) {
    ++secure_calls;
    res.status = 403;
    res.set_content("Forbidden (user=system:anonymous, verb=get, resource=nodes, subresource=proxy)", "text/plain");
  });
  KubeletOptions o;
  o.secure_port = secure.port();
  o.read_only_port = ro.port();
  // Within the retry window (an hour: however slow the machine, the calls fall inside it) the
  // secure port is not tried again.
  o.secure_retry = std::chrono::hours(1);
  auto c = KubeletClient::Create(o, nullptr);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->GetPods().ok());
  EXPECT_EQ((*c)->last_url(), "http://127.0.0.1:" + std::to_string(ro.port()) + "/pods");
  ASSERT_TRUE((*c)->GetPods().ok());
  EXPECT_EQ(secure_calls, 1) << "the secure port is not retried every time";
  EXPECT_EQ(ro_calls, 2);
  // Once the window has passed (a sleep lasts at least as long as asked), it is tried again.
  o.secure_retry = std::chrono::milliseconds(300);
  auto later = KubeletClient::Create(o, nullptr);
  ASSERT_TRUE(later.ok());
  ASSERT_TRUE((*later)->GetPods().ok());
  EXPECT_EQ(secure_calls, 2);
  EXPECT_EQ(ro_calls, 3);
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  ASSERT_TRUE((*later)->GetPods().ok());
  EXPECT_EQ(secure_calls, 3);
  EXPECT_EQ(ro_calls, 4);
}

TEST(KubeletClientTest, ForbiddenNamesTheMissingPermission) {
  Running<httplib::Server> ro(std::make_unique<httplib::Server>());
  ro.server().Get("/pods", [](const httplib::Request&, httplib::Response& res) {
    res.status = 403;
    res.set_content("Forbidden", "text/plain");
  });
  KubeletOptions o;
  o.secure_port = 0;
  o.read_only_port = ro.port();
  auto c = KubeletClient::Create(o, nullptr);
  auto body = (*c)->GetPods();
  ASSERT_FALSE(body.ok());
  EXPECT_EQ(body.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(body.status().message().find("nodes/proxy"), std::string::npos) << body.status();
}

TEST(KubeletClientTest, BothPortsDownNamesBoth) {
  KubeletOptions o;
  o.secure_port = UnusedLoopbackPort();
  o.read_only_port = UnusedLoopbackPort();
  o.timeout = std::chrono::milliseconds(500);
  auto c = KubeletClient::Create(o, nullptr);
  auto body = (*c)->GetPods();
  ASSERT_FALSE(body.ok());
  EXPECT_EQ(body.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(body.status().message().find("https://"), std::string::npos) << body.status();
  EXPECT_NE(body.status().message().find("read-only port"), std::string::npos) << body.status();
}

// As the kubelet writes /var/lib/kubelet/pki/kubelet.crt when the cluster does not sign its serving
// certificate: a leaf for its hostname (DNS SAN node-1) followed by the self-signed CA that signed
// it; plus an unrelated CA.
constexpr char kKubeletPkiScript[] =
    "openssl req -x509 -newkey rsa:2048 -nodes -keyout kca.key -out kca.crt -days 1 -subj /CN=node-1-ca@1 "
    "  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,digitalSignature && "
    "openssl req -newkey rsa:2048 -nodes -keyout kubelet.key -out kubelet.csr -subj /CN=node-1@1 && "
    "printf 'subjectAltName=DNS:node-1\\nextendedKeyUsage=serverAuth\\n' > ext.cnf && "
    "openssl x509 -req -in kubelet.csr -CA kca.crt -CAkey kca.key -CAcreateserial -out leaf.crt -days 1 "
    "  -extfile ext.cnf && "
    "cat leaf.crt kca.crt > kubelet.crt && "
    "openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.crt -days 1 -subj /CN=other-ca "
    "  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,digitalSignature";

class KubeletVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(pki_.ok());
    auto server = std::make_unique<httplib::SSLServer>(pki_.Path("kubelet.crt").c_str(), pki_.Path("kubelet.key").c_str());
    ASSERT_TRUE(server->is_valid());
    tls_ = std::make_unique<Running<httplib::SSLServer>>(std::move(server));
    // Records what reaches it; answers 401 to a request without a token, as a kubelet with
    // webhook authentication and no client CA for us would.
    tls_->server().Get("/pods", [&](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      ++requests_;
      auth_.push_back(req.get_header_value("Authorization"));
      if (req.get_header_value("Authorization").empty()) {
        res.status = 401;
        res.set_content("Unauthorized", "text/plain");
        return;
      }
      res.set_content(kPods, "application/json");
    });
    creds_.token = "s3cr3t-token";
  }
  absl::StatusOr<std::string> Get(const std::string& ca_pem, const std::string& server_name = "node-1") {
    KubeletOptions o;
    o.secure_port = tls_->port();
    o.read_only_port = 0;
    o.ca_pem = ca_pem;
    o.tls_server_name = server_name;
    o.timeout = std::chrono::milliseconds(5000);
    auto c = KubeletClient::Create(o, &creds_);
    EXPECT_TRUE(c.ok()) << c.status();
    client_ = *std::move(c);
    return client_->GetPods();
  }
  Pki pki_{kKubeletPkiScript};
  std::unique_ptr<Running<httplib::SSLServer>> tls_;
  kube::Kubeconfig creds_;
  std::unique_ptr<KubeletClient> client_;
  std::mutex mu_;
  int requests_ = 0;
  std::vector<std::string> auth_;
};

TEST_F(KubeletVerifyTest, VerifiedWithTheKubeletsOwnCertificateFileTheTokenIsSent) {
  auto body = Get(pki_.Read("kubelet.crt"));
  ASSERT_TRUE(body.ok()) << body.status();
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_EQ(auth_, std::vector<std::string>{"Bearer s3cr3t-token"});
}

TEST_F(KubeletVerifyTest, UntrustedCertificateGetsNoToken) {
  auto body = Get("");  // nothing to verify with
  ASSERT_FALSE(body.ok());
  EXPECT_EQ(body.status().code(), absl::StatusCode::kUnauthenticated) << body.status();
  EXPECT_NE(body.status().message().find("--kubelet-certificate-authority"), absl::string_view::npos)
      << body.status();
  EXPECT_EQ(body.status().message().find("s3cr3t"), absl::string_view::npos);
  std::lock_guard<std::mutex> lock(mu_);
  ASSERT_EQ(auth_.size(), 1u);
  EXPECT_EQ(auth_[0], "") << "no bearer token over an unverified connection";
}

TEST_F(KubeletVerifyTest, WrongCaIsRefusedWithAClearMessage) {
  auto body = Get(pki_.Read("other.crt"));
  ASSERT_FALSE(body.ok());
  EXPECT_EQ(body.status().code(), absl::StatusCode::kUnavailable) << body.status();
  EXPECT_NE(body.status().message().find("--kubelet-certificate-authority"), absl::string_view::npos)
      << body.status();
  // And a right CA for the wrong name is refused too.
  auto wrong_name = Get(pki_.Read("kubelet.crt"), "node-2");
  ASSERT_FALSE(wrong_name.ok());
  EXPECT_NE(wrong_name.status().message().find("node-2"), absl::string_view::npos) << wrong_name.status();
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_EQ(requests_, 0) << "nothing was sent to a kubelet that could not be verified";
}

}  // namespace
}  // namespace lifeboat::node
