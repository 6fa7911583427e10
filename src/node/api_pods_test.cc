#include "node/api_pods.h"

#include <httplib.h>

#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
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

}  // namespace
}  // namespace lifeboat::node
