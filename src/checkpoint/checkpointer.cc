#include "checkpoint/checkpointer.h"

#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/log.h"
#include "base/status.h"

namespace lifeboat::checkpoint {
namespace {

size_t Hash(absl::string_view text) { return std::hash<std::string_view>()(std::string_view(text.data(), text.size())); }

// What of a parent goes into its checkpoint (its status and annotations do not).
size_t ParentHash(const Json& pod) {
  const Json& meta = pod["metadata"];
  Json relevant = {{"uid", meta.value("uid", "")},
                   {"labels", meta.value("labels", Json::object())},
                   {"spec", pod.value("spec", Json::object())}};
  return Hash(relevant.dump());
}

}  // namespace

Checkpointer::Checkpointer(Options options, Sources& sources, Store& store, Metrics& metrics)
    : options_(std::move(options)), sources_(sources), store_(store), metrics_(metrics) {
  states_.grace = options_.grace;
  if (!options_.pod_name.empty()) {
    states_.self = SelfId(options_.pod_namespace, options_.pod_name, options_.node_name);
  }
}

void Checkpointer::Report(const std::string& key, const absl::Status& status) {
  auto it = reported_.find(key);
  if (status.ok()) {
    if (it != reported_.end()) {
      LOG_INFO("{}: working again", key);
      reported_.erase(it);
    }
    return;
  }
  std::string msg(status.message());
  if (it != reported_.end() && it->second == msg) return;
  LOG_WARN("{}: {}", key, msg);
  reported_[key] = msg;
}

Observation Checkpointer::Observe() {
  Observation obs;
  auto running = sources_.RunningPods();
  Report("container runtime", running.status());
  if (running.ok()) {
    obs.running = *std::move(running);
  } else {
    metrics_.Error(Metrics::Source::kRuntime);
  }

  auto kubelet = sources_.KubeletPods();
  absl::Status kubelet_status = kubelet.status();
  if (kubelet.ok()) {
    size_t h = Hash(*kubelet);
    if (h != kubelet_hash_ || kubelet_hash_ == 0) {
      auto list = ParsePodList(*kubelet, /*keep_spec=*/true);
      if (list.ok()) {
        kubelet_parents_.clear();
        parent_hash_.clear();
        for (auto& [id, pod] : SelectParents(*list, options_.pod_namespace)) {
          parent_hash_[id] = ParentHash(*pod);
          kubelet_parents_.emplace(id, std::move(*const_cast<Json*>(pod)));
        }
        kubelet_hash_ = h;
      } else {
        kubelet_status = Annotate(list.status(), "kubelet /pods");
      }
    }
  }
  Report("kubelet", kubelet_status);
  if (kubelet_status.ok()) {
    std::set<PodId> ids;
    for (const auto& [id, pod] : kubelet_parents_) ids.insert(id);
    obs.kubelet_parents = std::move(ids);
  } else {
    metrics_.Error(Metrics::Source::kKubelet);
    kubelet_hash_ = 0;
  }

  auto api = sources_.ApiPods();
  absl::Status api_status = api.status();
  if (api.ok()) {
    size_t h = Hash(*api);
    if (h != api_hash_ || api_hash_ == 0) {
      auto list = ParsePodList(*api, /*keep_spec=*/false);
      if (list.ok()) {
        api_parents_.clear();
        for (auto& [id, pod] : SelectParents(*list, options_.pod_namespace)) api_parents_.insert(id);
        api_hash_ = h;
      } else {
        api_status = Annotate(list.status(), "API server pod list");
      }
    }
  }
  Report("API server", api_status);
  if (api_status.ok()) {
    obs.api_available = true;
    obs.api_parents = api_parents_;
    metrics_.ApiContact();
  } else {
    metrics_.Error(Metrics::Source::kApi);
    api_hash_ = 0;
  }

  Store::Scan scan = store_.ScanDisk();
  for (const auto& problem : scan.problems) Report(problem, absl::FailedPreconditionError("skipped"));
  obs.inactive_on_disk = std::move(scan.inactive);
  obs.active_on_disk = std::move(scan.active);
  return obs;
}

absl::Status Checkpointer::WriteOne(const PodId& id, bool active, Time now) {
  const Json& parent = kubelet_parents_.at(id);
  kube::References refs = kube::ReferencedObjects(parent.value("spec", Json::object()));
  std::map<std::string, Json> objects;
  auto fetch = [&](const char* kind, const std::string& name) -> absl::Status {
    auto obj = sources_.GetObject(kind, name);
    if (obj.ok()) {
      objects[absl::StrCat(kind, "/", name)] = *std::move(obj);
    } else if (obj.status().code() != absl::StatusCode::kNotFound) {
      return obj.status();
    }
    return absl::OkStatus();
  };
  for (const auto& name : refs.secrets) LB_RETURN_IF_ERROR(fetch("Secret", name));
  for (const auto& name : refs.config_maps) LB_RETURN_IF_ERROR(fetch("ConfigMap", name));
  kube::ObjectLookup lookup = [&](absl::string_view kind, absl::string_view name) -> const Json* {
    auto it = objects.find(absl::StrCat(kind, "/", name));
    return it == objects.end() ? nullptr : &it->second;
  };
  LB_ASSIGN_OR_RETURN(Checkpoint cp, MakeCheckpoint(parent, lookup, store_.layout()));
  Written& w = written_[id];
  std::string notes = absl::StrJoin(cp.notes, "; ");
  if (notes != w.notes && !notes.empty()) LOG_INFO("checkpoint {}: {}", id.String(), notes);
  w.notes = notes;
  LB_ASSIGN_OR_RETURN(bool changed, store_.Write(cp, active));
  if (changed) {
    LOG_INFO("checkpoint {} written to {} ({} secret/configmap files)", id.String(),
             store_.layout().InactiveManifest(id).string(), cp.files.size());
  }
  return absl::OkStatus();
}

void Checkpointer::WriteCheckpoints(const Plan& plan, const Observation& obs, Time now) {
  for (const PodId& id : plan.checkpoint) {
    auto ph = parent_hash_.find(id);
    if (ph == parent_hash_.end()) continue;
    Written& w = written_[id];
    bool new_parent = w.at == Time{};
    bool due = new_parent || w.parent_hash != ph->second || !obs.inactive_on_disk.count(id) ||
               now - w.at >= (w.ok ? options_.refresh : options_.retry);
    if (!due) continue;
    w.parent_hash = ph->second;
    w.at = now;
    bool active = ActionOf(states_.by_id[id].state) == Action::kStart;
    absl::Status st = WriteOne(id, active, now);
    w.ok = st.ok();
    if (!st.ok()) {
      metrics_.Error(Metrics::Source::kWrite);
      Report(absl::StrCat("checkpoint ", id.String()),
             Annotate(st, "not updated, keeping the last good checkpoint"));
    } else {
      Report(absl::StrCat("checkpoint ", id.String()), absl::OkStatus());
    }
  }
  std::erase_if(written_, [&](const auto& kv) { return !states_.by_id.count(kv.first); });
}

void Checkpointer::Apply(const Plan& plan) {
  std::map<PodId, CheckpointState> previous;
  for (const auto& c : plan.changes) {
    if (!c.resumed) previous[c.id] = c.from;
  }
  bool removal_failed = false;
  for (const auto& a : plan.actions) {
    bool is_self = states_.self && a.id == *states_.self;
    absl::Status st;
    bool was_active = false;
    if (is_self && a.action == Action::kRemove && removal_failed) {
      st = absl::FailedPreconditionError("other checkpoints could not be removed yet; removing our own last");
    } else {
      switch (a.action) {
        case Action::kStart:
          st = store_.Start(a.id);
          break;
        case Action::kStop: {
          auto stopped = store_.Stop(a.id);
          st = stopped.status();
          was_active = stopped.ok() && *stopped;
          break;
        }
        case Action::kRemove:
          st = store_.Remove(a.id);
          break;
        case Action::kNone:
          break;
      }
    }
    std::string key = absl::StrCat("checkpoint ", a.id.String(), " ", ActionName(a.action));
    Report(key, st);
    if (!st.ok()) {
      metrics_.Error(Metrics::Source::kApply);
      if (a.action == Action::kRemove) removal_failed = true;
      // Undo the transition so the action is planned again next tick.
      auto prev = previous.find(a.id);
      if (prev != previous.end()) states_.by_id[a.id] = prev->second;
      continue;
    }
    if (a.action == Action::kStart) {
      metrics_.Activation();
      LOG_INFO("checkpoint {} activated: {} is now a static pod of this node", a.id.String(),
               store_.layout().ActiveManifest(a.id).string());
    } else if (a.action == Action::kStop && was_active) {
      LOG_INFO("checkpoint {} deactivated", a.id.String());
    } else if (a.action == Action::kRemove) {
      LOG_INFO("checkpoint {} removed with its secrets and configmaps", a.id.String());
    }
  }
}

Plan Checkpointer::Tick(Time now) {
  auto t0 = Clock::now();
  Observation obs = Observe();
  Plan plan = Decide(obs, states_, now);
  if (plan.frozen != frozen_) {
    if (plan.frozen) {
      LOG_WARN("{}", plan.frozen_reason);
    } else {
      LOG_INFO("the container runtime answers again: checkpoints are managed again");
    }
    frozen_ = plan.frozen;
  }
  for (const auto& c : plan.changes) {
    if (c.resumed) {
      LOG_INFO("checkpoint {} found on disk, resuming as {}", c.id.String(), StateName(c.to.state));
    } else {
      LOG_INFO("checkpoint {}: {} -> {}", c.id.String(), Describe(c.from, now), Describe(c.to, now));
    }
  }
  if (!plan.frozen) {
    WriteCheckpoints(plan, obs, now);
    Apply(plan);
  }
  metrics_.TickDone(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0), plan.frozen, states_);
  return plan;
}

void Checkpointer::Run(Duration period) {
  auto next = Clock::now();
  for (;;) {
    Tick(Clock::now());
    next += period;
    auto now = Clock::now();
    if (next < now) next = now;  // a slow tick: do not try to catch up
    std::unique_lock<std::mutex> lock(mu_);
    if (cv_.wait_until(lock, next, [this] { return stop_; })) return;
  }
}

void Checkpointer::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stop_ = true;
  cv_.notify_all();
}

}  // namespace lifeboat::checkpoint
