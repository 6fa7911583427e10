// The pod checkpointer's shell: each tick observes the node (kubelet, runtime, API server,
// disk), asks the pure Decide() what to do, logs the transitions and applies the plan (writes
// checkpoints, starts/stops/removes them). All I/O is behind Sources and Store.
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>

#include "checkpoint/metrics.h"
#include "checkpoint/sanitize.h"
#include "checkpoint/sources.h"
#include "checkpoint/state.h"
#include "checkpoint/store.h"

namespace lifeboat::checkpoint {

struct Options {
  std::string pod_namespace;  // POD_NAMESPACE: where parents (and we) live
  std::string pod_name;       // POD_NAME: who we are ("" = no own checkpoint)
  std::string node_name;      // NODE_NAME
  Duration grace = std::chrono::minutes(1);
  // Secrets/ConfigMaps of a parent whose spec did not change are re-fetched this often.
  Duration refresh = std::chrono::minutes(1);
  // A checkpoint that could not be written is retried this often (or when its parent changes).
  Duration retry = std::chrono::seconds(5);
};

class Checkpointer {
 public:
  Checkpointer(Options options, Sources& sources, Store& store, Metrics& metrics);

  // One tick at `now`. Returns the plan it applied (for tests and benchmarks).
  Plan Tick(Time now);

  // Ticks every `period` until Stop().
  void Run(Duration period);
  void Stop();

  const CheckpointStates& states() const { return states_; }

 private:
  Observation Observe();
  void WriteCheckpoints(const Plan& plan, const Observation& obs, Time now);
  absl::Status WriteOne(const PodId& id, bool active, Time now);
  void Apply(const Plan& plan);
  // Logs `status` for `key` when it differs from the last report; OK after a failure logs recovery.
  void Report(const std::string& key, const absl::Status& status);

  Options options_;
  Sources& sources_;
  Store& store_;
  Metrics& metrics_;
  CheckpointStates states_;

  // Parsed only when the raw answer changed.
  size_t kubelet_hash_ = 0;
  std::map<PodId, Json> kubelet_parents_;
  std::map<PodId, size_t> parent_hash_;
  size_t api_hash_ = 0;
  std::set<PodId> api_parents_;

  struct Written {
    size_t parent_hash = 0;
    Time at{};
    bool ok = false;
    std::string notes;
  };
  std::map<PodId, Written> written_;
  std::map<std::string, std::string> reported_;
  bool frozen_ = false;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

}  // namespace lifeboat::checkpoint
