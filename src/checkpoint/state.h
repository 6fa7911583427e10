// The checkpointer's decision (pure: no I/O, no clock, no logging).
//
// Every tick the shell observes the node and the API server, calls Decide(), logs the
// transitions and applies the plan. Per checkpoint, with A = API available, P = parent exists
// in the API, R = parent running locally, L = parent known to the kubelet:
//
//   state (action)        A=false                        A, P                   A, not P
//   none (none)           C and (R or L): evaluate as inactive; else stay (all columns)
//   inactive (stop)       R: stay; else -> active        R: stay; else -> active   -> inactive-grace(now+grace), evaluated now
//   inactive-grace (stop) R: stay, deadline passed ->     R: -> inactive;          stay; deadline passed -> remove
//                         remove; else -> active          else -> active
//   active (start)        R: -> inactive; else stay      R: -> inactive; else stay -> active-grace(now+grace), evaluated now
//   active-grace (start)  R: -> inactive; else stay,     R: -> inactive;          stay; deadline passed ->
//                         deadline passed -> evaluate     else -> active           evaluate as inactive-grace(now)
//                         as inactive-grace(now)
//   remove (remove)       terminal
//
// "Deadline passed" means now > deadline. An action is applied only when it differs from the
// previous state's action: start copies the inactive manifest into the kubelet's manifest dir,
// stop deletes it from there, remove deletes the checkpoint's secrets, configmaps, inactive and
// then active manifest.
//
// The checkpointer's own checkpoint stays active whenever A is false or P holds; when A holds and
// P does not, it goes to active-grace and, once that deadline passed, to remove, taking every
// other checkpoint with it: they are removed first, its own last (without a checkpointer nobody
// would ever deactivate them). While A holds and its own parent is absent, no new checkpoint is
// started.
//
// C = a checkpoint of the parent is on disk or is written this tick (A and P). Without one
// there is nothing to stop or start, so none stays none: started with the API server unreachable
// and an empty disk, nothing is attempted until the API server answers.
//
// Fail-safe: when the runtime could not be read (R unknown) nothing changes that tick; when the
// kubelet could not be read (L unknown), a checkpoint whose fate L decides (state none, R false)
// stays as it is.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "checkpoint/pod.h"

namespace lifeboat::checkpoint {

using Clock = std::chrono::steady_clock;
using Time = Clock::time_point;
using Duration = Clock::duration;

enum class State { kNone, kInactive, kInactiveGrace, kActive, kActiveGrace, kRemove };
enum class Action { kNone, kStop, kStart, kRemove };

Action ActionOf(State state);
const char* StateName(State state);    // "none", "inactive", "inactive-grace", ...
const char* ActionName(Action action);  // "none", "stop", "start", "remove"

struct CheckpointState {
  State state = State::kNone;
  Time deadline{};  // meaningful in the grace states only
  bool operator==(const CheckpointState& o) const {
    return state == o.state && (!HasDeadline() || deadline == o.deadline);
  }
  bool HasDeadline() const { return state == State::kInactiveGrace || state == State::kActiveGrace; }
};

// What one checkpoint's transition depends on.
struct Inputs {
  bool api_available = false;          // A
  bool parent_in_api = false;          // P (meaningful when A)
  bool running = false;                // R
  std::optional<bool> kubelet_knows;   // L; nullopt when the kubelet could not be read
  // C: a checkpoint is on disk or is written this tick (A and P). Without one, a checkpoint in
  // state none stays none whatever R and L say: there is nothing to stop or start.
  bool has_checkpoint = true;
};

// One step of the table for an ordinary checkpoint / for the checkpointer's own.
CheckpointState Transition(const CheckpointState& from, const Inputs& in, Time now, Duration grace);
CheckpointState TransitionSelf(const CheckpointState& from, const Inputs& in, Time now, Duration grace);

// Everything observed in one tick.
struct Observation {
  bool api_available = false;                      // A: the API server answered the pod list
  std::set<PodId> api_parents;                     // P, when A
  std::optional<std::set<PodId>> running;          // R; nullopt: the runtime could not be read
  // L; nullopt: the kubelet was not read this tick (nothing depended on it, see KubeletDecides)
  // or could not be read.
  std::optional<std::set<PodId>> kubelet_parents;
  std::set<PodId> inactive_on_disk;                // checkpoints found in the inactive dir
  std::set<PodId> active_on_disk;                  // checkpoints found in the kubelet's manifest dir
};

// The states carried from tick to tick, and the policy they evolve under.
struct CheckpointStates {
  Duration grace = std::chrono::minutes(1);
  std::optional<PodId> self;  // the checkpointer's own checkpoint, when known
  std::map<PodId, CheckpointState> by_id;
};

struct StateChange {
  PodId id;
  CheckpointState from;
  CheckpointState to;
  bool resumed = false;  // first seen on disk: `from` is what the files say, no action implied
};

struct PlannedAction {
  PodId id;
  Action action;
};

struct Plan {
  // True when nothing may change this tick (the runtime could not be read); `frozen_reason` says why.
  bool frozen = false;
  std::string frozen_reason;
  std::vector<StateChange> changes;
  // To apply in this order; the checkpointer's own removal always comes last.
  std::vector<PlannedAction> actions;
  // Parents known to the kubelet whose checkpoint should be written or refreshed (before the
  // actions, so that a start finds its inactive manifest). Only when the API is available.
  std::vector<PodId> checkpoint;
};

// Advances `states` by one tick and returns what to do. Checkpoints first seen on disk resume as
// active (in the manifest dir) or inactive (in the inactive dir only); parents the kubelet knows
// that have no state yet start as none.
Plan Decide(const Observation& obs, CheckpointStates& states, Time now);

// Whether L can change what Decide(obs, states, ...) does, given the rest of `obs`
// (`obs.kubelet_parents` is ignored). L decides only for a parent that is not running here and
// whose checkpoint exists (on disk, or written this tick from the API) but is still in state none,
// or is a parent in the API that is not running here and has no state yet (the kubelet's word
// would give it one). False whenever the runtime could not be read (nothing changes that tick).
// In steady state -- every checkpoint inactive or active, every parent either running or already
// decided -- the table needs only A, P and R, and the kubelet need not be asked.
bool KubeletDecides(const Observation& obs, const CheckpointStates& states);

// "active-grace (deadline in 12s)" style, relative to `now`.
std::string Describe(const CheckpointState& s, Time now);

}  // namespace lifeboat::checkpoint
