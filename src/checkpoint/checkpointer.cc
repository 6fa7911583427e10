#include "checkpoint/checkpointer.h"

#include <functional>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/log.h"
#include "base/status.h"
#include "kube/names.h"
#include "kube/static_pod.h"

namespace lifeboat::checkpoint {

Checkpointer::Checkpointer(Options options, Sources& sources, Store& store, Metrics& metrics)
    : options_(std::move(options)),
      sources_(sources),
      store_(store),
      metrics_(metrics),
      kubelet_parents_(options_.pod_namespace, /*keep_text=*/false) {
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

bool Checkpointer::KubeletDue(const Observation& obs, Time now) const {
  if (options_.kubelet_refresh <= Duration::zero()) return true;  // every tick, as upstream
  if (KubeletDecides(obs, states_)) return true;
  // Nothing depends on it: read now and then only to notice a kubelet we cannot read (its
  // certificate, our credentials) before a decision needs it.
  return kubelet_read_at_ == Time{} || now - kubelet_read_at_ >= options_.kubelet_refresh;
}

Observation Checkpointer::Observe(Time now) {
  Observation obs;
  auto running = sources_.RunningPods();
  Report("container runtime", running.status());
  if (running.ok()) {
    obs.running = *std::move(running);
  } else {
    metrics_.Error(Metrics::Source::kRuntime);
  }

  auto api = sources_.ApiParents();
  absl::Status api_status = api.status();
  if (api.ok()) {
    obs.api_available = true;
    if (api->version != api_.version) transient_work_ = true;  // a list or a changed parent
    api_ = *std::move(api);
    for (const auto& [id, parent] : *api_.parents) obs.api_parents.insert(id);
    metrics_.ApiContact();
  } else {
    metrics_.Error(Metrics::Source::kApi);
  }

  Store::Scan scan = store_.ScanDisk();
  for (const auto& problem : scan.problems)
    Report(problem, absl::FailedPreconditionError("skipped"));
  obs.inactive_on_disk = std::move(scan.inactive);
  obs.active_on_disk = std::move(scan.active);

  // The kubelet last: whether its word is needed depends on everything else.
  if (KubeletDue(obs, now)) {
    kubelet_read_at_ = now;
    auto kubelet = sources_.KubeletPods();
    absl::Status kubelet_status = kubelet.status();
    if (kubelet.ok()) kubelet_status = Annotate(kubelet_parents_.Update(*kubelet), "kubelet /pods");
    Report("kubelet", kubelet_status);
    metrics_.KubeletRead();
    transient_work_ = true;
    if (kubelet_status.ok()) {
      std::set<PodId> ids;
      for (const auto& [id, parent] : kubelet_parents_.parents()) ids.insert(id);
      obs.kubelet_parents = std::move(ids);
    } else {
      metrics_.Error(Metrics::Source::kKubelet);
    }
  }

  if (!api_status.ok() && obs.inactive_on_disk.empty()) {
    // Started with the API server unreachable and nothing on disk: say once what that means.
    Report(
        "API server",
        absl::Status(api_status.code(),
                     absl::StrCat(api_status.message(),
                                  "; no checkpoint on disk yet, so there is nothing to activate: "
                                  "checkpoints are written as soon as the API server answers")));
  } else {
    Report("API server", api_status);
  }
  return obs;
}

namespace {

size_t HashOf(absl::string_view s) {
  return std::hash<std::string_view>()(std::string_view(s.data(), s.size()));
}

// A point in the last quarter of `period` after `from`, fixed per key: refreshes spread out
// instead of all falling on the same tick.
Time Spread(Time from, Duration period, absl::string_view key) {
  auto quarter = period / 4;
  auto offset = quarter.count() > 0
                    ? Duration(static_cast<Duration::rep>(HashOf(key) % quarter.count()))
                    : Duration::zero();
  return from + period - offset;
}

}  // namespace

absl::Status Checkpointer::Fetch(const std::string& key, Time now) {
  auto slash = key.find('/');
  auto obj = sources_.GetObject(key.substr(0, slash), key.substr(slash + 1));
  if (!obj.ok() && obj.status().code() != absl::StatusCode::kNotFound) return obj.status();
  CachedObject fresh;
  fresh.exists = obj.ok();
  if (fresh.exists) fresh.text = obj->dump();
  fresh.hash = HashOf(fresh.text);
  fresh.due = Spread(now, options_.refresh, key);
  auto it = objects_.find(key);
  if (it != objects_.end() &&
      (it->second.exists != fresh.exists || it->second.hash != fresh.hash)) {
    for (const auto& [id, w] : written_) {
      if (w.refs.count(key)) dirty_.insert(id);
    }
  }
  objects_[key] = std::move(fresh);
  return absl::OkStatus();
}

absl::StatusOr<const CachedObject*> Checkpointer::Object(const std::string& key, bool fresh,
                                                         Time now) {
  auto it = objects_.find(key);
  if (fresh || it == objects_.end()) {
    LB_RETURN_IF_ERROR(Fetch(key, now));
    it = objects_.find(key);
  }
  return &it->second;
}

void Checkpointer::RefreshObjects(Time now) {
  std::set<std::string> used;
  for (const auto& [id, w] : written_) used.insert(w.refs.begin(), w.refs.end());
  std::erase_if(objects_, [&](const auto& kv) { return !used.count(kv.first); });
  std::vector<std::string> due;
  for (const auto& [key, obj] : objects_) {
    if (obj.due <= now) due.push_back(key);
  }
  for (const auto& key : due) {
    absl::Status st = Fetch(key, now);
    Report(key, st);
    if (!st.ok()) {
      metrics_.Error(Metrics::Source::kApi);
      objects_[key].due = now + options_.retry;
    }
  }
}

absl::Status Checkpointer::Tokens(const PodId& id, const Json& parent, Time now,
                                  std::map<std::string, Json>& objects) {
  const Json spec = parent.value("spec", Json::object());
  const Json meta = parent.value("metadata", Json::object());
  std::set<std::string> keys;
  for (const auto& volume : spec.value("volumes", Json::array())) {
    if (!volume.contains("projected")) continue;
    for (const auto& source : volume["projected"].value("sources", Json::array())) {
      if (!source.contains("serviceAccountToken")) continue;
      const Json& sat = source["serviceAccountToken"];
      std::string key = kube::TokenKey(sat);
      keys.insert(key);
      Token& t = tokens_[id][key];
      const std::string uid = meta.value("uid", "");
      // A pod deleted and created again under the same name is another pod: a token bound to
      // the old one is refused by the API server.
      if (t.token.empty() || t.uid != uid || now >= t.renew_at) {
        std::string sa =
            spec.value("serviceAccountName", spec.value("serviceAccount", std::string("default")));
        LB_RETURN_IF_ERROR(kube::ValidateObjectName("serviceaccount", sa));
        int64_t seconds = sat.value("expirationSeconds", int64_t{3600});
        Json request = {
            {"apiVersion", "authentication.k8s.io/v1"},
            {"kind", "TokenRequest"},
            {"spec",
             {{"expirationSeconds", seconds},
              {"boundObjectRef",
               {{"apiVersion", "v1"}, {"kind", "Pod"}, {"name", id.name}, {"uid", uid}}}}}};
        std::string audience = sat.value("audience", "");
        if (!audience.empty()) request["spec"]["audiences"] = Json::array({audience});
        LB_ASSIGN_OR_RETURN(Json answer, sources_.RequestToken(sa, request));
        const Json status = answer.value("status", Json::object());
        std::string token = status.value("token", "");
        if (token.empty()) {
          return absl::FailedPreconditionError(
              absl::StrCat("the API server's answer to a TokenRequest for service account ", sa,
                           " has no token"));
        }
        // Renewed at 80% of the life the server granted (which may be less than asked).
        absl::Time expires;
        std::string err;
        absl::Duration life = absl::Seconds(seconds);
        if (absl::ParseTime(absl::RFC3339_full, status.value("expirationTimestamp", ""), &expires,
                            &err)) {
          life = expires - absl::Now();
        }
        if (life < absl::Seconds(10)) life = absl::Seconds(10);
        t.token = std::move(token);
        t.uid = uid;
        t.renew_at =
            now + std::min<Duration>(
                      std::chrono::duration_cast<Duration>(absl::ToChronoSeconds(life * 0.8)),
                      options_.token_max_age);
        LOG_INFO(
            "checkpoint {}: token of service account {} (audience {}) requested, bound to the pod, "
            "valid {}s",
            id.String(), sa, audience.empty() ? "the API server's" : audience,
            absl::ToInt64Seconds(life));
      }
      objects["ServiceAccountToken/" + key] = Json{{"token", t.token}};
    }
  }
  auto& mine = tokens_[id];
  std::erase_if(mine, [&](const auto& kv) { return !keys.count(kv.first); });
  if (mine.empty()) tokens_.erase(id);
  return absl::OkStatus();
}

absl::Status Checkpointer::WriteOne(const PodId& id, bool active, bool fetch_fresh, Time now) {
  // The API server's copy, never the kubelet's: the kubelet's port is not where specs come from.
  LB_ASSIGN_OR_RETURN(Json parent, kube::ParseJson(api_.parents->at(id)->text));
  kube::References refs = kube::ReferencedObjects(parent.value("spec", Json::object()));
  std::set<std::string> keys;
  for (const auto& name : refs.secrets) keys.insert(absl::StrCat("Secret/", name));
  for (const auto& name : refs.config_maps) keys.insert(absl::StrCat("ConfigMap/", name));
  written_[id].refs = keys;
  std::map<std::string, Json> objects;
  for (const auto& key : keys) {
    LB_ASSIGN_OR_RETURN(const CachedObject* obj, Object(key, fetch_fresh, now));
    if (!obj->exists) continue;
    LB_ASSIGN_OR_RETURN(objects[key], kube::ParseJson(obj->text));
  }
  LB_RETURN_IF_ERROR(Tokens(id, parent, now, objects));
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
  if (!plan.checkpoint.empty()) RefreshObjects(now);
  // Tokens at 80% of their life (or token_max_age) are renewed by rewriting the checkpoint.
  for (const auto& [id, tokens] : tokens_) {
    for (const auto& [key, t] : tokens) {
      if (now >= t.renew_at) dirty_.insert(id);
    }
  }
  for (const PodId& id : plan.checkpoint) {
    auto parent = api_.parents->find(id);
    if (parent == api_.parents->end()) continue;
    size_t spec_hash = parent->second->spec_hash;
    Written& w = written_[id];
    bool changed_spec = w.at == Time{} || w.parent_hash != spec_hash;
    bool due = changed_spec || !obs.inactive_on_disk.count(id) || dirty_.count(id) ||
               (w.ok ? now >= Spread(w.verified, options_.verify, id.String())
                     : now - w.at >= options_.retry);
    if (!due) continue;
    w.parent_hash = spec_hash;
    w.at = now;
    bool active = ActionOf(states_.by_id[id].state) == Action::kStart;
    // A new or changed parent gets its Secrets/ConfigMaps fresh from the API server.
    transient_work_ = true;
    absl::Status st = WriteOne(id, active, /*fetch_fresh=*/changed_spec, now);
    w.ok = st.ok();
    if (!st.ok()) {
      metrics_.Error(Metrics::Source::kWrite);
      Report(absl::StrCat("checkpoint ", id.String()),
             Annotate(st, "not updated, keeping the last good checkpoint"));
    } else {
      w.verified = now;
      dirty_.erase(id);
      Report(absl::StrCat("checkpoint ", id.String()), absl::OkStatus());
    }
  }
  std::erase_if(written_, [&](const auto& kv) { return !states_.by_id.count(kv.first); });
  std::erase_if(tokens_, [&](const auto& kv) { return !written_.count(kv.first); });
  std::erase_if(dirty_, [&](const PodId& id) { return !written_.count(id); });
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
      st = absl::FailedPreconditionError(
          "other checkpoints could not be removed yet; removing our own last");
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
  Observation obs = Observe(now);
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
      LOG_INFO("checkpoint {}: {} -> {}", c.id.String(), Describe(c.from, now),
               Describe(c.to, now));
    }
  }
  if (!plan.frozen) {
    WriteCheckpoints(plan, obs, now);
    Apply(plan);
  }
  if (transient_work_) {
    // The kubelet's 400 KiB answer, the pod list, a hundred checkpoints' JSON: freed by now, but
    // glibc keeps free memory that is not at the top of its heap. Give it back (this is rare:
    // steady state does none of these). Free pages only; nothing in use is touched.
    transient_work_ = false;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
  }
  metrics_.TickDone(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0),
                    plan.frozen, states_);
  return plan;
}

void Checkpointer::Run(Duration period, const std::function<bool(Time until)>& wait) {
  // While the runtime cannot be read nothing may change (the fail-safe); it usually comes back
  // with a rebooted node, when a lost parent must be activated at once: retry sooner.
  const Duration frozen_retry = std::min<Duration>(period, std::chrono::milliseconds(100));
  auto next = Clock::now();
  for (;;) {
    bool frozen = false;
    try {
      frozen = Tick(Clock::now()).frozen;
    } catch (const std::exception& e) {
      // A malformed answer must not take the node's safety net down; the next tick tries again.
      LOG_ERROR("tick failed: {}", e.what());
      metrics_.Error(Metrics::Source::kApply);
    }
    auto now = Clock::now();
    next = frozen ? now + frozen_retry : next + period;
    if (next < now) next = now;  // a slow tick: do not try to catch up
    if (wait) {
      if (!wait(next)) return;
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
      continue;
    }
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
