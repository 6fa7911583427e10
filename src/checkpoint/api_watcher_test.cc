// The watch of the API server's pods against a fake API server (httplib) that lists, streams
// watch events, ends watches, compacts (410 Gone) and restarts on the same port.
#include "checkpoint/api_watcher.h"

#include <httplib.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "gtest/gtest.h"
#include "node/api_pods.h"
#include "testing/process.h"

namespace lifeboat::checkpoint {
namespace {

using std::chrono::milliseconds;

class FakeApi {
 public:
  FakeApi() : port_(lifeboat::testing::UnusedLoopbackPort()) { Start(); }
  ~FakeApi() { Stop(); }

  // Starts (again) on the same port, with the same pods and history.
  void Start() {
    server_ = std::make_unique<httplib::Server>();
    server_->Get("/api/v1/namespaces/kube-system/pods",
                 [this](const httplib::Request& req, httplib::Response& res) { Serve(req, res); });
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = false;
    }
    for (int i = 0; i < 200 && !server_->bind_to_port("127.0.0.1", port_); ++i) {
      std::this_thread::sleep_for(milliseconds(20));
    }
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    while (!server_->is_running()) std::this_thread::sleep_for(milliseconds(2));
  }
  void Stop() {
    if (!server_) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    server_->stop();
    thread_.join();
    server_.reset();
  }
  // Adds or replaces a pod (ADDED/MODIFIED), deletes one (DELETED).
  void Put(const std::string& name, const std::string& uid, const std::string& image) {
    std::lock_guard<std::mutex> lock(mu_);
    bool existed = pods_.count(name) > 0;
    kube::Json pod = {
        {"metadata",
         {{"name", name},
          {"namespace", "kube-system"},
          {"uid", uid},
          {"resourceVersion", std::to_string(++rv_)},
          {"annotations", {{"checkpointer.alpha.coreos.com/checkpoint", "true"}}}}},
        {"spec", {{"nodeName", "node-1"}, {"containers", {{{"name", "c"}, {"image", image}}}}}},
        {"status", {{"phase", "Running"}}}};
    pods_[name] = pod;
    events_.emplace_back(
        rv_, kube::Json{{"type", existed ? "MODIFIED" : "ADDED"}, {"object", pod}}.dump());
    cv_.notify_all();
  }
  void Delete(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    kube::Json pod = pods_.at(name);
    pod["metadata"]["resourceVersion"] = std::to_string(++rv_);
    pods_.erase(name);
    events_.emplace_back(rv_, kube::Json{{"type", "DELETED"}, {"object", pod}}.dump());
    cv_.notify_all();
  }
  // Forgets the history before now (etcd compaction) and ends the open watches: they come back
  // with a resourceVersion that is too old.
  void Compact() {
    std::lock_guard<std::mutex> lock(mu_);
    compacted_ = rv_ + 1;
    events_.clear();
    ++generation_;
    cv_.notify_all();
  }
  int lists() {
    std::lock_guard<std::mutex> lock(mu_);
    return lists_;
  }
  kube::Kubeconfig Config() const {
    kube::Kubeconfig c;
    c.server = "http://127.0.0.1:" + std::to_string(port_);
    return c;
  }

 private:
  void Serve(const httplib::Request& req, httplib::Response& res) {
    if (req.get_param_value("watch") != "1") {
      std::lock_guard<std::mutex> lock(mu_);
      ++lists_;
      kube::Json list = {{"kind", "PodList"},
                         {"metadata", {{"resourceVersion", std::to_string(rv_)}}},
                         {"items", kube::Json::array()}};
      for (auto& [name, pod] : pods_) list["items"].push_back(pod);
      res.set_content(list.dump(), "application/json");
      return;
    }
    uint64_t from = std::stoull(req.get_param_value("resourceVersion"));
    uint64_t generation;
    {
      std::lock_guard<std::mutex> lock(mu_);
      generation = generation_;
    }
    res.set_chunked_content_provider(
        "application/json", [this, from, generation](size_t, httplib::DataSink& sink) {
          std::unique_lock<std::mutex> lock(mu_);
          if (from + 1 < compacted_) {
            std::string e =
                R"({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure",)"
                R"("message":"too old resource version","reason":"Expired","code":410}})";
            e += "\n";
            sink.write(e.data(), e.size());
            sink.done();
            return true;
          }
          uint64_t sent = from;
          while (!stopping_ && generation_ == generation) {
            for (auto& [rv, e] : events_) {
              if (rv <= sent) continue;
              std::string line = e + "\n";
              lock.unlock();
              bool ok = sink.write(line.data(), line.size());
              lock.lock();
              if (!ok) return false;
              sent = rv;
            }
            cv_.wait_for(lock, milliseconds(50));
          }
          if (stopping_) return false;  // the server goes away mid-watch
          sink.done();                  // the server ends the watch
          return true;
        });
  }

  int port_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::map<std::string, kube::Json> pods_;
  std::vector<std::pair<uint64_t, std::string>> events_;
  uint64_t rv_ = 100;
  uint64_t compacted_ = 0;
  uint64_t generation_ = 0;
  int lists_ = 0;
};

bool WaitFor(const std::function<bool()>& cond) {
  // Generous: a bound, not a measurement (convergence takes one event or one retry).
  for (int i = 0; i < 2000; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return cond();
}

class ApiWatcherTest : public ::testing::Test {
 protected:
  void StartWatcher() {
    auto lister =
        node::ApiPodLister::Create(api_.Config(), "kube-system", "node-1", milliseconds(2000));
    ASSERT_TRUE(lister.ok()) << lister.status();
    auto watch =
        node::ApiPodWatch::Create(api_.Config(), "kube-system", "node-1", milliseconds(2000));
    ASSERT_TRUE(watch.ok()) << watch.status();
    ApiWatcherOptions o;
    o.retry_max = milliseconds(200);
    watcher_ =
        std::make_unique<ApiWatcher>("kube-system", *std::move(lister), *std::move(watch), o);
    watcher_->Start();
  }
  // The image of parent `name` as the watcher sees it ("" when absent or the API is unreadable).
  std::string Image(const std::string& name) {
    auto view = watcher_->View();
    if (!view.ok()) return "";
    auto it = view->parents->find(PodId{"kube-system", name});
    if (it == view->parents->end()) return "";
    auto pod = kube::ParseJson(it->second->text);
    return (*pod)["spec"]["containers"][0]["image"];
  }
  std::string Uid(const std::string& name) {
    auto view = watcher_->View();
    if (!view.ok() || !view->parents->count(PodId{"kube-system", name})) return "";
    return (
        *kube::ParseJson(view->parents->at(PodId{"kube-system", name})->text))["metadata"]["uid"];
  }
  FakeApi api_;
  std::unique_ptr<ApiWatcher> watcher_;
};

TEST_F(ApiWatcherTest, ListsOnceThenFollowsEvents) {
  api_.Put("a", "u1", "v1");
  StartWatcher();
  ASSERT_TRUE(WaitFor([&] { return Image("a") == "v1"; }));
  api_.Put("a", "u1", "v2");
  api_.Put("b", "u2", "v1");
  ASSERT_TRUE(WaitFor([&] { return Image("a") == "v2" && Image("b") == "v1"; }));
  api_.Delete("b");
  ASSERT_TRUE(WaitFor([&] { return Image("b").empty(); }));
  EXPECT_EQ(api_.lists(), 1) << "steady state: one list, then the watch";
  EXPECT_EQ(watcher_->lists(), 1u);
}

TEST_F(ApiWatcherTest, DeletedAndRecreatedWithTheSameName) {
  api_.Put("a", "u1", "v1");
  StartWatcher();
  ASSERT_TRUE(WaitFor([&] { return Uid("a") == "u1"; }));
  api_.Delete("a");
  api_.Put("a", "u2", "v1");
  ASSERT_TRUE(WaitFor([&] { return Uid("a") == "u2"; }));
}

TEST_F(ApiWatcherTest, ApiServerRestartedMidWatchResumesFromTheResourceVersion) {
  api_.Put("a", "u1", "v1");
  StartWatcher();
  ASSERT_TRUE(WaitFor([&] { return Image("a") == "v1"; }));
  api_.Stop();
  ASSERT_TRUE(WaitFor([&] { return !watcher_->View().ok(); }))
      << "an API server that is gone is unavailable";
  EXPECT_EQ(watcher_->View().status().code(), absl::StatusCode::kUnavailable);
  api_.Put("a", "u1", "v2");  // changed while we could not see it
  api_.Start();
  ASSERT_TRUE(WaitFor([&] { return Image("a") == "v2"; }));
  EXPECT_EQ(api_.lists(), 1) << "resumed by resourceVersion, not relisted";
}

TEST_F(ApiWatcherTest, GoneRelists) {
  api_.Put("a", "u1", "v1");
  api_.Put("b", "u2", "v1");
  StartWatcher();
  ASSERT_TRUE(WaitFor([&] { return Image("b") == "v1"; }));
  api_.Compact();
  api_.Delete("b");  // only a relist can tell: the event history is gone
  api_.Compact();
  ASSERT_TRUE(WaitFor([&] { return Image("b").empty() && Image("a") == "v1"; }));
  EXPECT_GE(api_.lists(), 2);
  ASSERT_TRUE(watcher_->View().ok());
}

TEST_F(ApiWatcherTest, UnreachableUntilTheFirstAnswer) {
  api_.Stop();
  StartWatcher();
  ASSERT_TRUE(WaitFor([&] { return watcher_->lists() >= 2; })) << "retried";
  EXPECT_FALSE(watcher_->View().ok());
  api_.Put("a", "u1", "v1");
  api_.Start();
  ASSERT_TRUE(WaitFor([&] { return Image("a") == "v1"; }));
}

}  // namespace
}  // namespace lifeboat::checkpoint
