// In-memory Sources for tests of the tick loop.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "checkpoint/pod_watch.h"
#include "checkpoint/sources.h"

namespace lifeboat::testing {

class FakeSources : public checkpoint::Sources {
 public:
  std::map<checkpoint::PodId, checkpoint::Json> kubelet;  // what /pods lists
  absl::Status kubelet_error;
  int kubelet_reads = 0;
  std::set<checkpoint::PodId> running;
  absl::Status runtime_error;
  std::map<checkpoint::PodId, checkpoint::Json> api;  // the API server's pods of this node
  absl::Status api_error;
  int api_reads = 0;
  std::map<std::string, checkpoint::Json> objects;  // "Secret/name", "ConfigMap/name"
  int object_gets = 0;

  absl::StatusOr<std::string> KubeletPods() override {
    ++kubelet_reads;
    if (!kubelet_error.ok()) return kubelet_error;
    return List(kubelet);
  }
  absl::StatusOr<std::set<checkpoint::PodId>> RunningPods() override {
    if (!runtime_error.ok()) return runtime_error;
    return running;
  }
  absl::StatusOr<checkpoint::ApiView> ApiParents() override {
    ++api_reads;
    if (!api_error.ok()) return api_error;
    absl::Status st = api_watch_.Replace(List(api));
    if (!st.ok()) return st;
    return checkpoint::ApiView{api_watch_.parents(), api_watch_.version()};
  }
  absl::StatusOr<checkpoint::Json> GetObject(absl::string_view kind,
                                             absl::string_view name) override {
    ++object_gets;
    if (!api_error.ok()) return api_error;
    auto it = objects.find(absl::StrCat(kind, "/", name));
    if (it == objects.end())
      return absl::NotFoundError(absl::StrCat(kind, " ", name, " not found"));
    return it->second;
  }

  // TokenRequests received (service account, request), and how long the tokens live.
  std::vector<std::pair<std::string, checkpoint::Json>> token_requests;
  int token_seconds = 3600;
  absl::StatusOr<checkpoint::Json> RequestToken(absl::string_view service_account,
                                                const checkpoint::Json& request) override {
    if (!api_error.ok()) return api_error;
    token_requests.emplace_back(std::string(service_account), request);
    int seconds = request["spec"].value("expirationSeconds", token_seconds);
    absl::Time exp = absl::Now() + absl::Seconds(std::min(seconds, token_seconds));
    return checkpoint::Json{
        {"kind", "TokenRequest"},
        {"status",
         {{"token",
           absl::StrCat("token-", token_requests.size(), "-for-", std::string(service_account))},
          {"expirationTimestamp", absl::FormatTime(absl::RFC3339_sec, exp, absl::UTCTimeZone())}}}};
  }

  // The parent both in the kubelet and the API, running.
  void AddParent(const checkpoint::Json& pod) {
    checkpoint::PodId id = checkpoint::IdOf(pod);
    kubelet[id] = pod;
    api[id] = pod;
    running.insert(id);
  }

 protected:
  checkpoint::ParentWatch api_watch_{"kube-system"};

 private:
  static std::string List(const std::map<checkpoint::PodId, checkpoint::Json>& pods) {
    checkpoint::Json list = {
        {"kind", "PodList"}, {"apiVersion", "v1"}, {"items", checkpoint::Json::array()}};
    for (const auto& [id, pod] : pods) list["items"].push_back(pod);
    return list.dump();
  }
};

}  // namespace lifeboat::testing
