// The checkpointer's counters and gauges, rendered in the Prometheus text format, and the
// /healthz + /metrics HTTP endpoint. Written by the tick loop, read by the HTTP thread.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "checkpoint/state.h"

namespace lifeboat::checkpoint {

class Metrics {
 public:
  enum class Source { kRuntime, kKubelet, kApi, kApply, kWrite };
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // `clock` (tests inject one) times the ticks for Healthy().
  explicit Metrics(Clock clock = std::chrono::steady_clock::now);

  void TickDone(std::chrono::nanoseconds duration, bool frozen, const CheckpointStates& states);
  void Error(Source source);
  void Activation();
  void ApiContact();
  void KubeletRead();

  // The Prometheus text exposition of everything, plus process RSS and CPU.
  std::string Render() const;
  // Healthy while ticks keep completing: the last one ended less than `stale` ago (the loop
  // has not hung). An unreachable API server is the situation we exist for, not ill health.
  bool Healthy(std::chrono::steady_clock::duration stale) const;

 private:
  mutable std::mutex mu_;
  std::map<State, int> by_state_;
  std::map<Source, uint64_t> errors_;
  uint64_t activations_ = 0;
  uint64_t kubelet_reads_ = 0;
  uint64_t ticks_ = 0;
  uint64_t frozen_ticks_ = 0;
  double tick_seconds_sum_ = 0;
  double last_tick_seconds_ = 0;
  double last_api_contact_unix_ = 0;
  Clock clock_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point last_tick_{};
};

// Serves /healthz and /metrics on `address` ("host:port"; port 0 picks a free one) from a thread
// of its own until destroyed.
class MetricsServer {
 public:
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& address, const Metrics* metrics,
                                                               std::chrono::steady_clock::duration stale);
  ~MetricsServer();
  int port() const { return port_; }

 private:
  MetricsServer() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace lifeboat::checkpoint
