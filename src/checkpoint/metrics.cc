#include "checkpoint/metrics.h"

#include <httplib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace lifeboat::checkpoint {
namespace {

const char* SourceName(Metrics::Source s) {
  switch (s) {
    case Metrics::Source::kRuntime:
      return "runtime";
    case Metrics::Source::kKubelet:
      return "kubelet";
    case Metrics::Source::kApi:
      return "api";
    case Metrics::Source::kApply:
      return "apply";
    case Metrics::Source::kWrite:
      return "write";
  }
  return "?";
}

double ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  long pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return static_cast<double>(pages_resident) * ::sysconf(_SC_PAGESIZE);
}

double CpuSeconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void Metric(std::string& out, const char* name, const char* type, const char* help) {
  absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

}  // namespace

void Metrics::TickDone(std::chrono::nanoseconds duration, bool frozen, const CheckpointStates& states) {
  std::lock_guard<std::mutex> lock(mu_);
  ++ticks_;
  if (frozen) ++frozen_ticks_;
  last_tick_seconds_ = duration.count() / 1e9;
  tick_seconds_sum_ += last_tick_seconds_;
  last_tick_ = std::chrono::steady_clock::now();
  by_state_.clear();
  for (const auto& [id, st] : states.by_id) ++by_state_[st.state];
}

void Metrics::Error(Source source) {
  std::lock_guard<std::mutex> lock(mu_);
  ++errors_[source];
}

void Metrics::Activation() {
  std::lock_guard<std::mutex> lock(mu_);
  ++activations_;
}

void Metrics::ApiContact() {
  std::lock_guard<std::mutex> lock(mu_);
  last_api_contact_unix_ =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

bool Metrics::Healthy(std::chrono::steady_clock::duration stale) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto now = std::chrono::steady_clock::now();
  auto since = ticks_ == 0 ? now - started_ : now - last_tick_;
  return since < stale;
}

std::string Metrics::Render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  Metric(out, "lifeboat_checkpointer_checkpoints", "gauge", "Checkpoints by state.");
  for (State s : {State::kNone, State::kInactive, State::kInactiveGrace, State::kActive, State::kActiveGrace,
                  State::kRemove}) {
    auto it = by_state_.find(s);
    absl::StrAppend(&out, "lifeboat_checkpointer_checkpoints{state=\"", StateName(s), "\"} ",
                    it == by_state_.end() ? 0 : it->second, "\n");
  }
  Metric(out, "lifeboat_checkpointer_activations_total", "counter",
         "Checkpoints started (copied into the kubelet's manifest dir).");
  absl::StrAppend(&out, "lifeboat_checkpointer_activations_total ", activations_, "\n");
  Metric(out, "lifeboat_checkpointer_errors_total", "counter",
         "Failed reads of the runtime, kubelet or API server, and failed writes or actions.");
  for (Source s : {Source::kRuntime, Source::kKubelet, Source::kApi, Source::kWrite, Source::kApply}) {
    auto it = errors_.find(s);
    absl::StrAppend(&out, "lifeboat_checkpointer_errors_total{source=\"", SourceName(s), "\"} ",
                    it == errors_.end() ? 0 : it->second, "\n");
  }
  Metric(out, "lifeboat_checkpointer_last_api_contact_timestamp_seconds", "gauge",
         "Unix time of the last successful pod list from the API server (0: never).");
  absl::StrAppend(&out, "lifeboat_checkpointer_last_api_contact_timestamp_seconds ",
                  absl::StrFormat("%.3f", last_api_contact_unix_), "\n");
  Metric(out, "lifeboat_checkpointer_ticks_total", "counter", "Ticks run.");
  absl::StrAppend(&out, "lifeboat_checkpointer_ticks_total ", ticks_, "\n");
  Metric(out, "lifeboat_checkpointer_frozen_ticks_total", "counter",
         "Ticks in which nothing could change because the runtime could not be read.");
  absl::StrAppend(&out, "lifeboat_checkpointer_frozen_ticks_total ", frozen_ticks_, "\n");
  Metric(out, "lifeboat_checkpointer_tick_duration_seconds", "summary", "Time spent in ticks.");
  absl::StrAppend(&out, "lifeboat_checkpointer_tick_duration_seconds_sum ", absl::StrFormat("%.6f", tick_seconds_sum_),
                  "\nlifeboat_checkpointer_tick_duration_seconds_count ", ticks_, "\n");
  Metric(out, "lifeboat_checkpointer_last_tick_duration_seconds", "gauge", "Duration of the last tick.");
  absl::StrAppend(&out, "lifeboat_checkpointer_last_tick_duration_seconds ",
                  absl::StrFormat("%.6f", last_tick_seconds_), "\n");
  Metric(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  absl::StrAppend(&out, "process_resident_memory_bytes ", absl::StrFormat("%.0f", ResidentBytes()), "\n");
  Metric(out, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
  absl::StrAppend(&out, "process_cpu_seconds_total ", absl::StrFormat("%.3f", CpuSeconds()), "\n");
  return out;
}

struct MetricsServer::Impl {
  httplib::Server server;
  std::thread thread;
};

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& address,
                                                                    const Metrics* metrics,
                                                                    std::chrono::steady_clock::duration stale) {
  auto colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("metrics address \"", address, "\" is not host:port"));
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  std::unique_ptr<MetricsServer> s(new MetricsServer());
  s->impl_ = std::make_unique<Impl>();
  httplib::Server& srv = s->impl_->server;
  srv.new_task_queue = [] { return new httplib::ThreadPool(1); };
  srv.Get("/healthz", [metrics, stale](const httplib::Request&, httplib::Response& res) {
    bool ok = metrics->Healthy(stale);
    res.status = ok ? 200 : 500;
    res.set_content(ok ? "ok" : "the checkpointer's loop has not completed a tick recently", "text/plain");
  });
  srv.Get("/metrics", [metrics](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics->Render(), "text/plain; version=0.0.4");
  });
  if (port == 0) {
    s->port_ = srv.bind_to_any_port(host);
  } else {
    s->port_ = srv.bind_to_port(host, port) ? port : -1;
  }
  if (s->port_ < 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address, " for /healthz and /metrics"));
  }
  s->impl_->thread = std::thread([impl = s->impl_.get()] { impl->server.listen_after_bind(); });
  return s;
}

MetricsServer::~MetricsServer() {
  if (impl_) {
    // stop() is a no-op until the accept loop runs: wait for it (briefly) first.
    for (int i = 0; i < 100 && !impl_->server.is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    impl_->server.stop();
    if (impl_->thread.joinable()) impl_->thread.join();
  }
}

}  // namespace lifeboat::checkpoint
