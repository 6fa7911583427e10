#include "checkpoint/state.h"

#include "absl/strings/str_cat.h"

namespace lifeboat::checkpoint {
namespace {

bool Passed(Time deadline, Time now) { return now > deadline; }

CheckpointState Make(State s, Time deadline = Time{}) { return CheckpointState{s, deadline}; }

// The rows of the table, one function per state.
CheckpointState FromInactiveGrace(Time deadline, const Inputs& in, Time now) {
  if (!in.api_available) {
    if (!in.running) return Make(State::kActive);
    return Passed(deadline, now) ? Make(State::kRemove) : Make(State::kInactiveGrace, deadline);
  }
  if (in.parent_in_api) return in.running ? Make(State::kInactive) : Make(State::kActive);
  return Passed(deadline, now) ? Make(State::kRemove) : Make(State::kInactiveGrace, deadline);
}

CheckpointState FromActiveGrace(Time deadline, const Inputs& in, Time now) {
  if (!in.api_available) {
    if (in.running) return Make(State::kInactive);
    if (Passed(deadline, now)) return FromInactiveGrace(now, in, now);
    return Make(State::kActiveGrace, deadline);
  }
  if (in.parent_in_api) return in.running ? Make(State::kInactive) : Make(State::kActive);
  if (Passed(deadline, now)) return FromInactiveGrace(now, in, now);
  return Make(State::kActiveGrace, deadline);
}

CheckpointState FromInactive(const Inputs& in, Time now, Duration grace) {
  if (in.api_available && !in.parent_in_api) return FromInactiveGrace(now + grace, in, now);
  return in.running ? Make(State::kInactive) : Make(State::kActive);
}

CheckpointState FromActive(const Inputs& in, Time now, Duration grace) {
  if (in.api_available && !in.parent_in_api) return FromActiveGrace(now + grace, in, now);
  return in.running ? Make(State::kInactive) : Make(State::kActive);
}

}  // namespace

Action ActionOf(State state) {
  switch (state) {
    case State::kNone:
      return Action::kNone;
    case State::kInactive:
    case State::kInactiveGrace:
      return Action::kStop;
    case State::kActive:
    case State::kActiveGrace:
      return Action::kStart;
    case State::kRemove:
      return Action::kRemove;
  }
  return Action::kNone;
}

const char* StateName(State state) {
  switch (state) {
    case State::kNone:
      return "none";
    case State::kInactive:
      return "inactive";
    case State::kInactiveGrace:
      return "inactive-grace";
    case State::kActive:
      return "active";
    case State::kActiveGrace:
      return "active-grace";
    case State::kRemove:
      return "remove";
  }
  return "?";
}

const char* ActionName(Action action) {
  switch (action) {
    case Action::kNone:
      return "none";
    case Action::kStop:
      return "stop";
    case Action::kStart:
      return "start";
    case Action::kRemove:
      return "remove";
  }
  return "?";
}

CheckpointState Transition(const CheckpointState& from, const Inputs& in, Time now, Duration grace) {
  switch (from.state) {
    case State::kNone:
      // Nothing to stop or start without a checkpoint: stay (an API server that never answered
      // left nothing on disk; activating nothing every tick is a state the table never reaches).
      if (!in.has_checkpoint) return from;
      if (in.running) return FromInactive(in, now, grace);
      // Whether the kubelet knows the parent decides; unknown means no change.
      if (in.kubelet_knows.value_or(false)) return FromInactive(in, now, grace);
      return from;
    case State::kInactive:
      return FromInactive(in, now, grace);
    case State::kInactiveGrace:
      return FromInactiveGrace(from.deadline, in, now);
    case State::kActive:
      return FromActive(in, now, grace);
    case State::kActiveGrace:
      return FromActiveGrace(from.deadline, in, now);
    case State::kRemove:
      return from;
  }
  return from;
}

CheckpointState TransitionSelf(const CheckpointState& from, const Inputs& in, Time now, Duration grace) {
  if (from.state == State::kRemove) return from;
  if (from.state == State::kNone && (!in.has_checkpoint || (!in.running && !in.kubelet_knows.value_or(false)))) {
    return from;
  }
  if (!in.api_available || in.parent_in_api) return Make(State::kActive);
  // The API says our own parent is gone.
  if (from.state == State::kActiveGrace) {
    return Passed(from.deadline, now) ? Make(State::kRemove) : from;
  }
  CheckpointState grace_state = Make(State::kActiveGrace, now + grace);
  return Passed(grace_state.deadline, now) ? Make(State::kRemove) : grace_state;
}

Plan Decide(const Observation& obs, CheckpointStates& states, Time now) {
  Plan plan;
  if (!obs.running.has_value()) {
    plan.frozen = true;
    plan.frozen_reason =
        "the container runtime could not be read, so whether parents run is unknown: "
        "no checkpoint changes state this tick";
    return plan;
  }
  // A removal planned last tick was applied (the shell restores the previous state when an
  // action fails, so a state still saying remove is done with).
  std::erase_if(states.by_id, [](const auto& kv) { return kv.second.state == State::kRemove; });
  const bool self_gone = obs.api_available && states.self.has_value() &&
                         obs.api_parents.count(*states.self) == 0;
  // Resume what is on disk.
  auto resume = [&](const PodId& id, State s) {
    if (states.by_id.count(id)) return;
    states.by_id[id] = Make(s);
    plan.changes.push_back({id, Make(State::kNone), Make(s), /*resumed=*/true});
  };
  for (const PodId& id : obs.active_on_disk) resume(id, State::kActive);
  for (const PodId& id : obs.inactive_on_disk) resume(id, State::kInactive);
  // Parents the kubelet knows, and parents in the API that run here, get a state; not while our
  // own parent is gone from the API (we are being retired: what we started now, nobody would
  // clean up).
  auto candidate = [&](const PodId& id) {
    return (obs.kubelet_parents.has_value() && obs.kubelet_parents->count(id)) ||
           (obs.api_available && obs.api_parents.count(id) && obs.running->count(id));
  };
  if (!self_gone) {
    if (obs.kubelet_parents.has_value()) {
      for (const PodId& id : *obs.kubelet_parents) states.by_id.try_emplace(id);
    }
    if (obs.api_available) {
      for (const PodId& id : obs.api_parents) {
        if (obs.running->count(id)) states.by_id.try_emplace(id);
      }
    }
  }
  // Checkpoints are written (from the API server's spec) only while it answers.
  auto written = [&](const PodId& id) { return obs.api_available && !self_gone && obs.api_parents.count(id) > 0; };

  std::map<PodId, CheckpointState> before = states.by_id;
  bool self_removed = false;
  for (auto& [id, st] : states.by_id) {
    Inputs in;
    in.api_available = obs.api_available;
    in.parent_in_api = obs.api_parents.count(id) > 0;
    in.running = obs.running->count(id) > 0;
    if (obs.kubelet_parents.has_value()) in.kubelet_knows = obs.kubelet_parents->count(id) > 0;
    in.has_checkpoint = obs.inactive_on_disk.count(id) > 0 || written(id);
    bool is_self = states.self.has_value() && id == *states.self;
    st = is_self ? TransitionSelf(st, in, now, states.grace) : Transition(st, in, now, states.grace);
    if (is_self && st.state == State::kRemove && before[id].state != State::kRemove) self_removed = true;
  }
  if (self_removed) {
    for (auto& [id, st] : states.by_id) st = Make(State::kRemove);
  }

  std::vector<PlannedAction> self_actions;
  for (const auto& [id, st] : states.by_id) {
    const CheckpointState& old = before[id];
    if (!(old == st)) plan.changes.push_back({id, old, st, false});
    Action a = ActionOf(st.state);
    bool is_self = states.self.has_value() && id == *states.self;
    if (a != ActionOf(old.state)) (is_self ? self_actions : plan.actions).push_back({id, a});
    if (written(id) && st.state != State::kRemove && st.state != State::kNone) plan.checkpoint.push_back(id);
  }
  plan.actions.insert(plan.actions.end(), self_actions.begin(), self_actions.end());
  // A parent that is neither known to the kubelet nor running here and never got a checkpoint
  // leaves no trace.
  std::erase_if(states.by_id, [&](const auto& kv) {
    return kv.second.state == State::kNone && obs.kubelet_parents.has_value() && !candidate(kv.first);
  });
  return plan;
}

bool KubeletDecides(const Observation& obs, const CheckpointStates& states) {
  if (!obs.running.has_value()) return false;  // frozen: nothing changes this tick
  auto running = [&](const PodId& id) { return obs.running->count(id) > 0; };
  auto written = [&](const PodId& id) { return obs.api_available && obs.api_parents.count(id) > 0; };
  // A state `remove` is dropped before the table runs (see Decide): such an id has no state.
  auto stateless = [&](const PodId& id) {
    auto it = states.by_id.find(id);
    return it == states.by_id.end() || it->second.state == State::kRemove;
  };
  for (const auto& [id, st] : states.by_id) {
    if (st.state == State::kNone && !running(id) &&
        (obs.inactive_on_disk.count(id) > 0 || written(id))) {
      return true;
    }
  }
  for (const PodId& id : obs.api_parents) {
    // What is on disk resumes as inactive or active, whatever the kubelet says.
    if (obs.api_available && stateless(id) && !running(id) && obs.inactive_on_disk.count(id) == 0 &&
        obs.active_on_disk.count(id) == 0) {
      return true;
    }
  }
  return false;
}

std::string Describe(const CheckpointState& s, Time now) {
  if (!s.HasDeadline()) return StateName(s.state);
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(s.deadline - now);
  return absl::StrCat(StateName(s.state), " (deadline ",
                      left.count() >= 0 ? absl::StrCat("in ", left.count() / 1000.0, "s")
                                        : absl::StrCat(-left.count() / 1000.0, "s ago"),
                      ")");
}

}  // namespace lifeboat::checkpoint
