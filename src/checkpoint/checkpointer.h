// The pod checkpointer's shell: each tick observes the node (kubelet, runtime, API server,
// disk), asks the pure Decide() what to do, logs the transitions and applies the plan (writes
// checkpoints, starts/stops/removes them). All I/O is behind Sources and Store.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "checkpoint/metrics.h"
#include "checkpoint/pod_list.h"
#include "checkpoint/sanitize.h"
#include "checkpoint/sources.h"
#include "checkpoint/state.h"
#include "checkpoint/store.h"

namespace lifeboat::checkpoint {

// A Secret or ConfigMap as last fetched.
struct CachedObject {
  bool exists = false;
  std::string text;  // its JSON
  size_t hash = 0;
  Time due{};        // when to fetch it again
};

struct Options {
  std::string pod_namespace;  // POD_NAMESPACE: where parents (and we) live
  std::string pod_name;       // POD_NAME: who we are ("" = no own checkpoint)
  std::string node_name;      // NODE_NAME
  Duration grace = std::chrono::minutes(1);
  // Every Secret/ConfigMap a checkpoint uses is fetched again this often (at most; fetches are
  // spread over the last quarter of the period); a change rewrites the checkpoints using it.
  Duration refresh = std::chrono::minutes(1);
  // Every checkpoint is compared with the disk (and repaired) this often even if nothing changed.
  Duration verify = std::chrono::minutes(10);
  // A checkpoint that could not be written is retried this often (or when its parent changes).
  Duration retry = std::chrono::seconds(5);
  // Zero: the kubelet's /pods is read every tick, as upstream does. Otherwise it is read when its
  // answer can change a decision (KubeletDecides: a parent not running here whose checkpoint is
  // not yet started or stopped), and at least this often to notice a kubelet that cannot be read
  // before a decision needs it. In steady state nothing depends on it: decrypting and scanning
  // /pods (391 KiB with 100 pods) was most of a tick's CPU.
  Duration kubelet_refresh = Duration::zero();
  // A projected service-account token in a checkpoint is requested again at 80% of the life the
  // API server granted, as the kubelet does, or once it is this old, whichever comes first (the
  // kubelet's limit is 24 h).
  Duration token_max_age = std::chrono::hours(24);
};

class Checkpointer {
 public:
  Checkpointer(Options options, Sources& sources, Store& store, Metrics& metrics);

  // One tick at `now`. Returns the plan it applied (for tests and benchmarks).
  Plan Tick(Time now);

  // Ticks every `period` until Stop(). Between ticks it waits with `wait(until)` when given, which
  // returns false to stop (the daemon waits for SIGTERM there: no thread of its own for signals).
  void Run(Duration period, const std::function<bool(Time until)>& wait = nullptr);
  void Stop();

  const CheckpointStates& states() const { return states_; }

 private:
  Observation Observe(Time now);
  // Whether this tick must read the kubelet's /pods (see Options::kubelet_refresh), given the
  // rest of the tick's observation.
  bool KubeletDue(const Observation& obs, Time now) const;
  void WriteCheckpoints(const Plan& plan, const Observation& obs, Time now);
  absl::Status WriteOne(const PodId& id, bool active, bool fetch_fresh, Time now);
  // The cached Secret/ConfigMap ("Secret/name"), fetched first when absent or `fresh`.
  absl::StatusOr<const CachedObject*> Object(const std::string& key, bool fresh, Time now);
  absl::Status Fetch(const std::string& key, Time now);
  // For each projected serviceAccountToken source of `parent`: a token of the parent's service
  // account bound to the parent pod, requested when missing, when the pod is another one of the
  // same name (a new UID), or at 80% of its life (or Options::token_max_age), put into
  // `objects` as "ServiceAccountToken/<kube::TokenKey>".
  absl::Status Tokens(const PodId& id, const Json& parent, Time now, std::map<std::string, Json>& objects);
  void RefreshObjects(Time now);
  void Apply(const Plan& plan);
  // Logs `status` for `key` when it differs from the last report; OK after a failure logs recovery.
  void Report(const std::string& key, const absl::Status& status);

  Options options_;
  Sources& sources_;
  Store& store_;
  Metrics& metrics_;
  CheckpointStates states_;

  // The kubelet's /pods: items are parsed only when they changed; only ids are kept.
  ParentCache kubelet_parents_;
  Time kubelet_read_at_{};  // the last attempt to read it
  // The API server's parents as last seen (kept while it cannot be read).
  ApiView api_;

  struct Written {
    size_t parent_hash = 0;
    Time at{};        // last attempt
    Time verified{};  // last successful write or check against the disk
    bool ok = false;
    std::string notes;
    std::set<std::string> refs;  // "Secret/name", "ConfigMap/name"
  };
  std::map<PodId, Written> written_;
  std::map<std::string, CachedObject> objects_;
  struct Token {
    std::string token;
    std::string uid;  // of the pod it is bound to
    Time renew_at{};
  };
  std::map<PodId, std::map<std::string, Token>> tokens_;  // by kube::TokenKey
  std::set<PodId> dirty_;  // a Secret/ConfigMap they use changed
  std::map<std::string, std::string> reported_;
  bool frozen_ = false;
  // This tick read the kubelet, took a new API view or wrote a checkpoint: big buffers came and
  // went, and their memory is given back at the end of the tick.
  bool transient_work_ = false;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

}  // namespace lifeboat::checkpoint
