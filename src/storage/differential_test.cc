// The decoder against the real thing: for every Pod, Secret, ConfigMap, DaemonSet and Deployment
// of a running test bed (control plane fixture, controllers, a node running the pods), the JSON
// decoded from the object's etcd value equals the JSON the API server returns for it.
#include <map>

#include "absl/strings/str_cat.h"
#include "apiserver/client.h"
#include "etcd/client.h"
#include "gtest/gtest.h"
#include "kube/kubeconfig.h"
#include "storage/decode.h"
#include "testing/testbed.h"

namespace lifeboat::storage {
namespace {

struct Resource {
  const char* list_path;  // all namespaces
  const char* api_prefix;  // for GET of one object
  const char* etcd_resource;
};

TEST(DifferentialTest, EtcdValuesDecodeToWhatTheApiServerServes) {
  auto tb = testing::Testbed::Start({.controllers = true, .nodes = 1});
  ASSERT_TRUE(tb.ok()) << tb.status();
  ASSERT_TRUE((*tb)->Script("load-fixture", {"--wait-running"}).ok());
  auto kc = kube::LoadKubeconfig((*tb)->Env("KUBECONFIG"));
  ASSERT_TRUE(kc.ok()) << kc.status();
  auto api = apiserver::Client::Create(*kc);
  ASSERT_TRUE(api.ok()) << api.status();
  etcd::EtcdClientOptions eo;
  eo.endpoints = (*tb)->Env("ETCD_ENDPOINTS");
  eo.ca_file = (*tb)->Env("ETCD_CA");
  eo.cert_file = (*tb)->Env("ETCD_CERT");
  eo.key_file = (*tb)->Env("ETCD_KEY");
  auto etcd = etcd::EtcdClient::Connect(eo);
  ASSERT_TRUE(etcd.ok()) << etcd.status();

  const Resource resources[] = {
      {"/api/v1/pods", "/api/v1", "pods"},
      {"/api/v1/secrets", "/api/v1", "secrets"},
      {"/api/v1/configmaps", "/api/v1", "configmaps"},
      {"/apis/apps/v1/daemonsets", "/apis/apps/v1", "daemonsets"},
      {"/apis/apps/v1/deployments", "/apis/apps/v1", "deployments"},
  };
  std::map<std::string, int> compared;
  for (const Resource& r : resources) {
    std::vector<std::pair<std::string, std::string>> names;
    ASSERT_TRUE((*api)->List(r.list_path, "", 500, [&](kube::Json&& item) {
      names.emplace_back(item["metadata"].value("namespace", ""), item["metadata"].value("name", ""));
      return absl::OkStatus();
    }).ok());
    for (const auto& [ns, name] : names) {
      std::string key = absl::StrCat("/registry/", r.etcd_resource, "/", ns, "/", name);
      // Objects change (pod status, leader leases); compare a pair read at the same revision.
      bool same_revision = false;
      for (int attempt = 0; attempt < 5 && !same_revision; ++attempt) {
        auto served = (*api)->Get(absl::StrCat(r.api_prefix, "/namespaces/", ns, "/", r.etcd_resource, "/", name));
        if (absl::IsNotFound(served.status())) break;  // deleted meanwhile
        ASSERT_TRUE(served.ok()) << served.status();
        auto kv = (*etcd)->Get(key);
        ASSERT_TRUE(kv.ok()) << kv.status();
        if (!kv->has_value()) break;
        if (std::to_string((*kv)->mod_revision) != (*served)["metadata"].value("resourceVersion", "")) continue;
        same_revision = true;
        auto decoded = DecodeValue(key, (*kv)->value, nullptr, (*kv)->mod_revision);
        ASSERT_TRUE(decoded.ok()) << key << ": " << decoded.status();
        EXPECT_EQ(*decoded, *served) << key << "\n--- decoded from etcd:\n"
                                     << decoded->dump(1) << "\n--- served:\n" << served->dump(1);
        ++compared[r.etcd_resource];
      }
    }
  }
  // The fixture's objects and the controllers' own: several of each kind were compared.
  EXPECT_GE(compared["pods"], 6);
  EXPECT_GE(compared["secrets"], 6);
  EXPECT_GE(compared["configmaps"], 4);
  EXPECT_GE(compared["daemonsets"], 2);
  EXPECT_GE(compared["deployments"], 3);
  for (const auto& [resource, n] : compared) std::cout << resource << ": " << n << " compared\n";
}

}  // namespace
}  // namespace lifeboat::storage
