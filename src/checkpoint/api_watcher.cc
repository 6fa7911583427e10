#include "checkpoint/api_watcher.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "base/http_status.h"
#include "base/log.h"
#include "base/status.h"
#include "node/api_pods.h"

namespace lifeboat::checkpoint {

ApiWatcher::ApiWatcher(std::string ns, std::unique_ptr<node::ApiPodLister> lister,
                       std::unique_ptr<node::ApiPodWatch> watch, ApiWatcherOptions options)
    : lister_(std::move(lister)),
      watch_(std::move(watch)),
      options_(options),
      parents_(std::move(ns)) {}

ApiWatcher::~ApiWatcher() { Stop(); }

void ApiWatcher::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Loop(); });
}

void ApiWatcher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  watch_->Cancel();
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<ApiView> ApiWatcher::View() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!status_.ok()) return status_;
  return ApiView{parents_.parents(), parents_.version()};
}

void ApiWatcher::SetError(const absl::Status& status) {
  std::lock_guard<std::mutex> lock(mu_);
  status_ = status;
}

bool ApiWatcher::Sleep(Duration d) {
  std::unique_lock<std::mutex> lock(mu_);
  return !cv_.wait_for(lock, d, [this] { return stop_; });
}

std::chrono::seconds ApiWatcher::ServerTimeout(std::chrono::seconds base, uint64_t random) {
  if (base.count() < 2) return base;
  return base + std::chrono::seconds(random % static_cast<uint64_t>(base.count()));
}

void ApiWatcher::Loop() {
  std::mt19937_64 rng(std::random_device{}());
  const Duration kFirstRetry = std::chrono::milliseconds(100);
  Duration backoff = kFirstRetry;
  auto fail = [&](const absl::Status& st) {
    SetError(st);
    bool go_on = Sleep(backoff);
    backoff = std::min<Duration>(backoff * 2, options_.retry_max);
    return go_on;
  };
  bool need_list = true;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
    }
    if (need_list) {
      ++lists_;
      auto list = lister_->List();
      absl::Status st = list.status();
      if (st.ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        st = Annotate(parents_.Replace(*list), "API server pod list");
        if (st.ok()) status_ = absl::OkStatus();
      }
      if (!st.ok()) {
        if (!fail(st)) return;
        continue;
      }
      backoff = kFirstRetry;
      need_list = false;
    }
    std::string rv;
    {
      std::lock_guard<std::mutex> lock(mu_);
      rv = parents_.resource_version();
    }
    ++watches_;
    bool connected = false;
    auto started = Clock::now();
    absl::Status st = watch_->Watch(
        rv, ServerTimeout(options_.server_timeout, rng()), options_.idle,
        [&] {
          connected = true;
          std::lock_guard<std::mutex> lock(mu_);
          status_ = absl::OkStatus();
        },
        [&](absl::string_view event) {
          std::lock_guard<std::mutex> lock(mu_);
          return parents_.Apply(event);
        });
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
    }
    if (connected) backoff = kFirstRetry;
    if (st.ok()) continue;  // the server ended the watch: resume where it left off
    if (IsGone(st) || st.code() == absl::StatusCode::kInvalidArgument) {
      LOG_INFO("API server watch: {}; listing again", std::string(st.message()));
      need_list = true;
      continue;
    }
    if (connected && Clock::now() - started >= std::chrono::seconds(1)) {
      // A watch that ran for a while broke (the API server restarted?): try again at once before
      // calling the API server unreachable.
      continue;
    }
    if (!fail(st)) return;
  }
}

}  // namespace lifeboat::checkpoint
