// The lean HTTPS client (node/http_get.h, as the checkpointer uses it) against the test bed's real
// kube-apiserver run with --tls-min-version=VersionTLS13, as on OpenShift's "Modern" TLS profile
// and CIS-hardened clusters.
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "kube/kubeconfig.h"
#include "node/api_pods.h"
#include "node/http_get.h"
#include "testing/process.h"
#include "testing/testbed.h"

namespace lifeboat::node {
namespace {

using internal::HttpGet;
using internal::HttpGetOptions;

class Tls13ApiServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    testing::TestbedOptions o;
    o.apiserver_args = {"--tls-min-version=VersionTLS13"};
    auto tb = testing::Testbed::Start(o);
    ASSERT_TRUE(tb.ok()) << tb.status();
    testbed_ = tb->release();
  }
  static void TearDownTestSuite() {
    delete testbed_;
    testbed_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(testbed_, nullptr);
    auto kc = kube::LoadKubeconfig(testbed_->Env("KUBECONFIG"));
    ASSERT_TRUE(kc.ok()) << kc.status();
    config_ = *kc;
  }
  HttpGetOptions Options() const {
    HttpGetOptions o;
    o.ca_pem = config_.ca_pem;
    o.cert_pem = config_.client_cert_pem;
    o.key_pem = config_.client_key_pem;
    o.timeout = std::chrono::seconds(20);
    return o;
  }
  // Whether `openssl s_client` completes a handshake with the API server at this version.
  static bool OpensslHandshakes(const std::string& version_flag) {
    std::string port = testbed_->Env("APISERVER_PORT");
    auto r =
        testing::RunProcess({"sh", "-c",
                             "openssl s_client -connect 127.0.0.1:" + port + " " + version_flag +
                                 " -CAfile " + testbed_->Env("CA_CERT") + " </dev/null"});
    return r.exit_code == 0 && absl::StrContains(r.out, "Verification: OK");
  }

  static testing::Testbed* testbed_;
  kube::Kubeconfig config_;
};
testing::Testbed* Tls13ApiServerTest::testbed_ = nullptr;

TEST_F(Tls13ApiServerTest, TheServerRefusesTls12) {
  // The premise of the other cases: the API server really is TLS 1.3 only.
  EXPECT_FALSE(OpensslHandshakes("-tls1_2"));
  EXPECT_TRUE(OpensslHandshakes("-tls1_3"));
}

TEST_F(Tls13ApiServerTest, LeanClientListsPods) {
  // No controller manager here: the service account the pod names is made by hand.
  testbed_->Kubectl({"-n", "kube-system", "create", "serviceaccount", "default"}).IgnoreError();
  auto created = testbed_->Kubectl({"-n", "kube-system", "run", "tls13-probe",
                                    "--image=k8s.gcr.io/pause:3.2", "--restart=Never",
                                    "--overrides={\"spec\":{\"nodeName\":\"node-tls13\","
                                    "\"automountServiceAccountToken\":false}}"});
  ASSERT_TRUE(created.ok()) << created.status();
  auto lister =
      ApiPodLister::Create(config_, "kube-system", "node-tls13", std::chrono::seconds(20));
  ASSERT_TRUE(lister.ok()) << lister.status();
  absl::StatusOr<std::string> list = absl::UnavailableError("not tried");
  // The pod reaches the API server's watch cache (resourceVersion=0 lists) within moments.
  for (int i = 0; i < 100; ++i) {
    list = (*lister)->List();
    ASSERT_TRUE(list.ok()) << list.status();
    if (absl::StrContains(*list, "tls13-probe")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_TRUE(absl::StrContains(*list, "\"name\":\"tls13-probe\"")) << *list;
}

TEST_F(Tls13ApiServerTest, WatchStreamsEventsAsTheyHappen) {
  auto g = HttpGet::Create(config_.server, Options());
  ASSERT_TRUE(g.ok()) << g.status();
  std::mutex mu;
  std::string seen;
  long status = 0;
  HttpGet::StreamHandlers h;
  h.on_status = [&](long code) {
    status = code;
    return absl::OkStatus();
  };
  h.on_body = [&](absl::string_view piece) {
    std::lock_guard<std::mutex> lock(mu);
    seen.append(piece.data(), piece.size());
    return absl::OkStatus();
  };
  HttpGet::StreamOptions so;
  so.idle_timeout = std::chrono::minutes(5);
  absl::Status result;
  std::thread watch([&] {
    result =
        (*g)->Stream("/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=120", so, h);
  });
  bool added = false;
  for (int i = 0; i < 300 && !added; ++i) {
    if (i % 50 == 0) {  // created once the watch is likely open; again if it was not yet
      testbed_
          ->Kubectl({"-n", "default", "create", "configmap", "watched-" + std::to_string(i),
                     "--from-literal=k=v"})
          .IgnoreError();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::lock_guard<std::mutex> lock(mu);
    added = absl::StrContains(seen, "\"type\":\"ADDED\"") && absl::StrContains(seen, "watched-");
  }
  (*g)->Cancel();
  watch.join();
  EXPECT_EQ(status, 200);
  EXPECT_TRUE(added) << seen;
  EXPECT_EQ(result.code(), absl::StatusCode::kCancelled) << result;
}

TEST_F(Tls13ApiServerTest, TlsServerNameIsTheVerifiedName) {
  // The server's certificate names DNS:kubernetes.default.svc (and IP:127.0.0.1), not
  // "wrong.example".
  long code = 0;
  HttpGetOptions right = Options();
  right.tls_server_name = "kubernetes.default.svc";
  auto g = HttpGet::Create(config_.server + "/version", right);
  ASSERT_TRUE(g.ok()) << g.status();
  auto body = (*g)->Fetch(&code);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(code, 200);
  EXPECT_TRUE(absl::StrContains(*body, "\"gitVersion\": \"v1.20.2\"")) << *body;
  HttpGetOptions wrong = Options();
  wrong.tls_server_name = "wrong.example";
  auto w = HttpGet::Create(config_.server + "/version", wrong);
  ASSERT_TRUE(w.ok()) << w.status();
  auto refused = (*w)->Fetch(&code);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "not valid for host wrong.example"))
      << refused.status();
}

}  // namespace
}  // namespace lifeboat::node
