// The API server's parents on this node, kept current by a list and then a watch on a thread of
// its own, so that a tick reads them without any request (steady state costs the API server one
// open watch, nothing per tick). The watch resumes from the last resourceVersion when the
// connection breaks or the server ends it, relists on 410 Gone (compaction) or a malformed event,
// and retries a failing API server with a bounded back-off.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "checkpoint/pod_watch.h"
#include "checkpoint/sources.h"
#include "checkpoint/state.h"

namespace lifeboat::node {
class ApiPodLister;
class ApiPodWatch;
}  // namespace lifeboat::node

namespace lifeboat::checkpoint {

struct ApiWatcherOptions {
  // Longest wait between attempts while the API server fails (it doubles from 100 ms up to this);
  // the tick period is a good value: checkpoints appear within a tick or two of an answer.
  Duration retry_max = std::chrono::seconds(1);
  // Each watch asks the server to end it (timeoutSeconds) after a random time between this and
  // twice this, as client-go's reflector does, so that the checkpointers of many nodes do not all
  // come back at the same moment; the watch then resumes.
  std::chrono::seconds server_timeout{300};
  // No byte for this long: the connection is dead (API servers since 1.20 send a bookmark about
  // once a minute; older ones, or one without its watch cache, may be quiet for longer: the
  // watch is then resumed, which costs one request). A watch whose server vanished without a
  // word is noticed after at most this, plus the request timeout for the next attempt.
  std::chrono::milliseconds idle{90000};
};

class ApiWatcher {
 public:
  ApiWatcher(std::string ns, std::unique_ptr<node::ApiPodLister> lister,
             std::unique_ptr<node::ApiPodWatch> watch, ApiWatcherOptions options = {});
  ~ApiWatcher();  // Stop()s

  // Starts the thread (once).
  void Start();
  // Ends the watch and joins the thread.
  void Stop();

  // The parents as last seen, or why the API server cannot be read now (the last list or watch
  // request failed and no later one succeeded).
  absl::StatusOr<ApiView> View() const;

  // Requests made so far (for tests and benchmarks).
  uint64_t lists() const { return lists_; }
  uint64_t watches() const { return watches_; }

  // The timeoutSeconds of a watch: in [base, 2 * base) (base when it is under 2 s).
  static std::chrono::seconds ServerTimeout(std::chrono::seconds base, uint64_t random);

 private:
  void Loop();
  void SetError(const absl::Status& status);
  // Waits `d` unless stopped; returns false when stopped.
  bool Sleep(Duration d);

  std::unique_ptr<node::ApiPodLister> lister_;
  std::unique_ptr<node::ApiPodWatch> watch_;
  ApiWatcherOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  ParentWatch parents_;  // guarded by mu_
  absl::Status status_ = absl::UnavailableError("API server: no answer yet");
  std::atomic<uint64_t> lists_{0}, watches_{0};
  std::thread thread_;
};

}  // namespace lifeboat::checkpoint
