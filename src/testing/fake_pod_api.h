// A fake API server (httplib, a free loopback port) serving kube-system's pods for the watch:
// it lists, streams watch events from a resourceVersion, ends watches, compacts its history
// (410 Gone), restarts on the same port, and hangs (says nothing while staying up).
#pragma once

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "kube/codec.h"
#include "kube/kubeconfig.h"
#include "testing/process.h"

namespace lifeboat::testing {

class FakePodApi {
 public:
  FakePodApi() : port_(UnusedLoopbackPort()) { Start(); }
  ~FakePodApi() { Stop(); }

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
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
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
  // The timeoutSeconds of every watch so far.
  std::vector<int> watch_timeouts() {
    std::lock_guard<std::mutex> lock(mu_);
    return watch_timeouts_;
  }
  // true: the server stays up but says nothing any more (hung, or the path to it lost): open
  // watches get no byte, new requests no answer. false: it answers again.
  void Hang(bool hang) {
    std::lock_guard<std::mutex> lock(mu_);
    hung_ = hang;
    cv_.notify_all();
  }
  kube::Kubeconfig Config() const {
    kube::Kubeconfig c;
    c.server = "http://127.0.0.1:" + std::to_string(port_);
    return c;
  }

 private:
  void Serve(const httplib::Request& req, httplib::Response& res) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return !hung_ || stopping_; });
    }
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
      watch_timeouts_.push_back(std::stoi(req.get_param_value("timeoutSeconds")));
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
            if (hung_) {
              cv_.wait_for(lock, std::chrono::milliseconds(50));
              continue;
            }
            for (auto& [rv, e] : events_) {
              if (rv <= sent) continue;
              std::string line = e + "\n";
              lock.unlock();
              bool ok = sink.write(line.data(), line.size());
              lock.lock();
              if (!ok) return false;
              sent = rv;
            }
            cv_.wait_for(lock, std::chrono::milliseconds(50));
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
  bool hung_ = false;
  std::vector<int> watch_timeouts_;
  std::map<std::string, kube::Json> pods_;
  std::vector<std::pair<uint64_t, std::string>> events_;
  uint64_t rv_ = 100;
  uint64_t compacted_ = 0;
  uint64_t generation_ = 0;
  int lists_ = 0;
};

}  // namespace lifeboat::testing
