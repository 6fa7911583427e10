#include "node/api_pods.h"

#include <httplib.h>

#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "testing/raw_server.h"
#include "testing/servers.h"

namespace lifeboat::node {
namespace {

// An httplib server on a free loopback port, and a kubeconfig (with a token) that points to it.
class ApiServer {
 public:
  httplib::Server& server() { return running_.server(); }
  kube::Kubeconfig Config() {
    kube::Kubeconfig c;
    c.server = "http://127.0.0.1:" + std::to_string(running_.port());
    c.token = "t0k3n";
    return c;
  }

 private:
  lifeboat::testing::Running<httplib::Server> running_{std::make_unique<httplib::Server>()};
};

TEST(ApiPodListerTest, WholePodsFromTheCacheForThisNode) {
  ApiServer api;
  httplib::Request seen;
  api.server().Get("/api/v1/namespaces/kube-system/pods", [&](const httplib::Request& req, httplib::Response& res) {
    seen = req;
    res.set_content(R"({"kind": "PodList", "items": []})", "application/json");
  });
  auto lister = ApiPodLister::Create(api.Config(), "kube-system", "node-1", std::chrono::seconds(2));
  ASSERT_TRUE(lister.ok()) << lister.status();
  auto body = (*lister)->List();
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_NE(body->find("PodList"), absl::string_view::npos);
  EXPECT_EQ(seen.get_param_value("fieldSelector"), "spec.nodeName=node-1");
  EXPECT_EQ(seen.get_param_value("resourceVersion"), "0") << "served from the watch cache, not etcd";
  EXPECT_EQ(seen.get_header_value("Accept"), "application/json") << "whole pods: specs come from here";
  EXPECT_EQ(seen.get_header_value("Authorization"), "Bearer t0k3n");
  EXPECT_EQ(ApiPodLister::Path("kube-system", "node-1"),
            "/api/v1/namespaces/kube-system/pods?fieldSelector=spec.nodeName%3Dnode-1&resourceVersion=0");
}

TEST(ApiPodListerTest, ErrorsMapToStatusCodes) {
  ApiServer api;
  int code = 403;
  api.server().Get("/api/v1/namespaces/kube-system/pods", [&](const httplib::Request&, httplib::Response& res) {
    res.status = code;
    res.set_content(R"({"message": "pods is forbidden"})", "application/json");
  });
  auto lister = *ApiPodLister::Create(api.Config(), "kube-system", "node-1", std::chrono::seconds(2));
  EXPECT_EQ(lister->List().status().code(), absl::StatusCode::kPermissionDenied);
  code = 401;
  EXPECT_EQ(lister->List().status().code(), absl::StatusCode::kUnauthenticated);
  code = 503;
  EXPECT_EQ(lister->List().status().code(), absl::StatusCode::kUnavailable);
  code = 429;
  EXPECT_EQ(lister->List().status().code(), absl::StatusCode::kUnavailable);
  kube::Kubeconfig nowhere;
  nowhere.server = "https://127.0.0.1:1";
  auto down = *ApiPodLister::Create(nowhere, "kube-system", "node-1", std::chrono::seconds(1));
  auto st = down->List().status();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("127.0.0.1:1"), absl::string_view::npos) << st;
  nowhere.server = "ftp://x";
  EXPECT_FALSE(ApiPodLister::Create(nowhere, "kube-system", "node-1", std::chrono::seconds(1)).ok());
}

TEST(ApiObjectReaderTest, ReadsSecretsAndConfigMapsByNameFromTheCache) {
  ApiServer api;
  std::vector<std::string> seen;
  std::mutex mu;
  auto serve = [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(req.path + "?" + req.get_param_value("resourceVersion") + " " + req.get_header_value("Accept") +
                   " " + req.get_header_value("Authorization"));
    if (req.path.find("/missing") != std::string::npos) {
      res.status = 404;
      res.set_content(R"({"kind":"Status","message":"not found"})", "application/json");
      return;
    }
    res.set_content(R"({"kind":"Secret","metadata":{"name":"x"}})", "application/json");
  };
  api.server().Get(R"(/api/v1/namespaces/kube-system/(secrets|configmaps)/.*)", serve);
  auto reader = *ApiObjectReader::Create(api.Config(), "kube-system", std::chrono::seconds(2));
  auto secret = reader->Get("secrets", "kube-apiserver");
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ(*secret, R"({"kind":"Secret","metadata":{"name":"x"}})");
  ASSERT_TRUE(reader->Get("configmaps", "cfg").ok());
  auto missing = reader->Get("secrets", "missing");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
  EXPECT_NE(missing.status().message().find("secrets/missing"), absl::string_view::npos) << missing.status();
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], "/api/v1/namespaces/kube-system/secrets/kube-apiserver?0 application/json Bearer t0k3n");
  EXPECT_EQ(seen[1], "/api/v1/namespaces/kube-system/configmaps/cfg?0 application/json Bearer t0k3n");
}

// A watch whose server accepts the connection and then says nothing (no status line): noticed
// after the request timeout given to Create, however long the idle timeout.
TEST(ApiPodWatchTest, ServerThatNeverAnswersIsNoticedAfterTheRequestTimeout) {
  lifeboat::testing::SilentServer silent;
  kube::Kubeconfig config;
  config.server = "http://127.0.0.1:" + std::to_string(silent.port());
  const auto timeout = std::chrono::milliseconds(300);
  auto watch = ApiPodWatch::Create(config, "kube-system", "node-1", timeout);
  ASSERT_TRUE(watch.ok()) << watch.status();
  bool connected = false;
  int events = 0;
  auto start = std::chrono::steady_clock::now();
  absl::Status st = (*watch)->Watch(
      "42", std::chrono::seconds(300), std::chrono::minutes(10), [&] { connected = true; },
      [&](absl::string_view) {
        ++events;
        return absl::OkStatus();
      });
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_NE(st.message().find("no answer within 300 ms"), absl::string_view::npos) << st;
  EXPECT_FALSE(connected);
  EXPECT_EQ(events, 0);
  // A bound, not a measurement: 10x the request timeout, far below the 10 minute idle timeout.
  EXPECT_LT(took, 10 * timeout);
}

// A watch that was accepted and delivered an event, then its server went silent (hung, or the
// path to it lost): noticed after the idle timeout, the events before it delivered.
TEST(ApiPodWatchTest, WatchThatGoesSilentIsNoticedAfterTheIdleTimeout) {
  const std::string event =
      R"({"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"43"}}})"
      "\n";
  char size[16];
  std::snprintf(size, sizeof size, "%zx", event.size());
  // The status line, headers and one event; then nothing, the connection left open.
  lifeboat::testing::RawServer silent([&](const std::string&, int, int) {
    return lifeboat::testing::RawServer::Reply{
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
        std::string(size) + "\r\n" + event + "\r\n"};
  });
  kube::Kubeconfig config;
  config.server = silent.url("");
  auto watch = ApiPodWatch::Create(config, "kube-system", "node-1", std::chrono::seconds(5));
  ASSERT_TRUE(watch.ok()) << watch.status();
  const auto idle = std::chrono::milliseconds(300);
  bool connected = false;
  std::vector<std::string> events;
  auto start = std::chrono::steady_clock::now();
  absl::Status st = (*watch)->Watch(
      "42", std::chrono::seconds(300), idle, [&] { connected = true; },
      [&](absl::string_view e) {
        events.emplace_back(e);
        return absl::OkStatus();
      });
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_NE(st.message().find("nothing received for 300 ms"), absl::string_view::npos) << st;
  EXPECT_TRUE(connected);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0] + "\n", event);
  EXPECT_GE(took, idle - std::chrono::milliseconds(20)) << "not cut short";
  EXPECT_LT(took, 10 * idle);
}

}  // namespace
}  // namespace lifeboat::node
