#include "bootstrap/start.h"

#include <sys/stat.h>

#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "apiserver/client.h"
#include "base/file.h"
#include "base/status.h"
#include "bootstrap/discovery.h"
#include "bootstrap/manifests.h"
#include "kube/kubeconfig.h"

namespace lifeboat::bootstrap {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Required {
  std::string ns;
  std::string prefix;
  std::string Name() const { return ns + "/" + prefix; }
};

absl::StatusOr<std::vector<Required>> ParseRequired(const std::vector<std::string>& entries) {
  std::vector<Required> out;
  for (const auto& e : entries) {
    std::vector<std::string> parts = absl::StrSplit(e, '/');
    if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--required-pods entry \"", e, "\" is not namespace/name-prefix"));
    }
    out.push_back({parts[0], parts[1]});
  }
  return out;
}

std::string Seconds(Clock::duration d) {
  return absl::StrCat(std::chrono::duration_cast<std::chrono::seconds>(d).count(), "s");
}

// Everything `start` puts on the host, removed again by Teardown().
class Placement {
 public:
  Placement(const StartOptions& o, std::ostream& out) : o_(o), out_(out) {}
  ~Placement() { Teardown(); }

  absl::Status Place() {
    fs::path manifests = o_.asset_dir / "bootstrap-manifests";
    fs::path kubeconfig = o_.asset_dir / "auth" / "kubeconfig";
    std::error_code ec;
    if (!fs::is_directory(manifests, ec)) {
      return absl::InvalidArgumentError(absl::StrCat(
          manifests.string(), " does not exist: --asset-dir must be a directory written by "
                              "`lifeboat recover` (or bootkube render)"));
    }
    if (!fs::is_directory(o_.pod_manifest_path, ec)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--pod-manifest-path ", o_.pod_manifest_path.string(),
          " is not a directory; it must be the kubelet's static pod directory"));
    }
    LB_ASSIGN_OR_RETURN(std::string kubeconfig_data, base::ReadFile(kubeconfig));
    // The bootstrap secrets: replaced whole (a previous run may have left some).
    secrets_placed_ = true;
    LB_RETURN_IF_ERROR(base::RemoveTree(o_.bootstrap_secrets_dir));
    LB_RETURN_IF_ERROR(base::MakeDirs(o_.bootstrap_secrets_dir.parent_path(), 0755));
    if (fs::is_directory(o_.asset_dir / "tls", ec)) {
      LB_RETURN_IF_ERROR(base::CopyTree(o_.asset_dir / "tls", o_.bootstrap_secrets_dir));
      ::chmod(o_.bootstrap_secrets_dir.c_str(), 0700);
    } else {
      LB_RETURN_IF_ERROR(base::MakeDirs(o_.bootstrap_secrets_dir, 0700, true));
    }
    LB_RETURN_IF_ERROR(base::WriteFileAtomic(o_.bootstrap_secrets_dir / "kubeconfig", kubeconfig_data, 0600));
    out_ << "Copied " << (o_.asset_dir / "tls").string() << " to " << o_.bootstrap_secrets_dir.string()
         << std::endl;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(manifests, ec)) {
      if (e.is_regular_file() && e.path().filename().string()[0] != '.') files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      LB_ASSIGN_OR_RETURN(std::string data, base::ReadFile(f));
      fs::path target = o_.pod_manifest_path / f.filename();
      absl::Status st = base::WriteFileAtomicNoReplace(target, data, 0600);
      if (absl::IsAlreadyExists(st)) {
        return absl::AlreadyExistsError(absl::StrCat(
            target.string(), " already exists; refusing to overwrite it (remove it, or stop the "
                             "bootstrap control plane that placed it)"));
      }
      LB_RETURN_IF_ERROR(st);
      placed_.push_back(target);
      out_ << "Started static pod manifest " << target.string() << std::endl;
    }
    return absl::OkStatus();
  }

  void Teardown() {
    if (torn_down_) return;
    torn_down_ = true;
    if (placed_.empty() && !secrets_placed_) return;
    out_ << "Tearing down the bootstrap control plane:" << std::endl;
    for (const auto& p : placed_) {
      absl::Status st = base::RemoveFile(p);
      out_ << "  removed " << p.string() << (st.ok() ? "" : absl::StrCat(" FAILED: ", st.message())) << std::endl;
    }
    if (secrets_placed_) {
      absl::Status st = base::RemoveTree(o_.bootstrap_secrets_dir);
      out_ << "  removed " << o_.bootstrap_secrets_dir.string()
           << (st.ok() ? "" : absl::StrCat(" FAILED: ", st.message())) << std::endl;
    }
  }

 private:
  const StartOptions& o_;
  std::ostream& out_;
  std::vector<fs::path> placed_;
  bool secrets_placed_ = false;
  bool torn_down_ = false;
};

class Runner {
 public:
  Runner(const StartOptions& o, std::ostream& out, const std::atomic<bool>& cancelled)
      : o_(o), out_(out), cancelled_(cancelled), deadline_(Clock::now() + o.timeout) {}

  absl::Status Run() {
    LB_ASSIGN_OR_RETURN(std::vector<Required> required, ParseRequired(o_.required_pods));
    LB_ASSIGN_OR_RETURN(kube::Kubeconfig kc,
                        kube::LoadKubeconfig((o_.asset_dir / "auth" / "kubeconfig").string()));
    for (const auto& w : kc.warnings) out_ << "Warning: " << w << std::endl;
    apiserver::ClientOptions copts;
    copts.timeout = std::chrono::seconds(10);
    copts.connect_timeout = std::chrono::seconds(3);
    LB_ASSIGN_OR_RETURN(client_, apiserver::Client::Create(kc, copts));
    Placement placement(o_, out_);
    LB_RETURN_IF_ERROR(placement.Place());
    LB_RETURN_IF_ERROR(WaitForApiServer());
    LB_RETURN_IF_ERROR(CreateAssets());
    LB_RETURN_IF_ERROR(WaitForRequiredPods(required));
    out_ << "All self-hosted control plane components are running." << std::endl;
    return absl::OkStatus();
  }

 private:
  // Sleeps one poll interval; Cancelled/DeadlineExceeded when the run must stop.
  absl::Status Pause(const std::string& waiting_for) {
    auto until = Clock::now() + o_.poll_interval;
    while (Clock::now() < until) {
      if (cancelled_) return absl::CancelledError("interrupted");
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (Clock::now() > deadline_) {
      return absl::DeadlineExceededError(absl::StrCat("timed out after ", Seconds(o_.timeout),
                                                      " waiting for ", waiting_for));
    }
    return absl::OkStatus();
  }

  absl::Status WaitForApiServer() {
    auto start = Clock::now();
    auto last_report = start;
    out_ << "Waiting for the API server at " << client_->server() << " ..." << std::endl;
    std::string last_error;
    for (;;) {
      auto health = client_->GetRaw("/healthz");
      if (health.ok()) {
        auto ns = client_->Get("/api/v1/namespaces/kube-system");
        if (ns.ok()) break;
        last_error = std::string(ns.status().message());
      } else {
        last_error = std::string(health.status().message());
      }
      if (Clock::now() - last_report > std::chrono::seconds(15)) {
        out_ << "  still waiting for the API server (" << Seconds(Clock::now() - start) << "): "
             << last_error << std::endl;
        last_report = Clock::now();
      }
      LB_RETURN_IF_ERROR(Pause(absl::StrCat("the API server (last error: ", last_error, ")")));
    }
    out_ << "API server is up (" << Seconds(Clock::now() - start) << ")" << std::endl;
    return absl::OkStatus();
  }

  absl::Status WaitEstablished(const Manifest& m, const ApiResource& res) {
    std::string path = absl::StrCat(res.CollectionPath(""), "/", m.object["metadata"].value("name", ""));
    for (;;) {
      auto crd = client_->Get(path);
      if (crd.ok()) {
        for (const auto& c : crd->value("/status/conditions"_json_pointer, Json::array())) {
          if (c.value("type", "") == "Established" && c.value("status", "") == "True") return absl::OkStatus();
        }
      }
      LB_RETURN_IF_ERROR(Pause(absl::StrCat(m.Describe(), " to be established")));
    }
  }

  absl::Status CreateAssets() {
    fs::path dir = o_.asset_dir / "manifests";
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      out_ << "WARNING: " << dir.string() << " does not exist, not creating any self-hosted assets."
           << std::endl;
      return absl::OkStatus();
    }
    LB_ASSIGN_OR_RETURN(ManifestSet set, LoadManifests(dir));
    std::vector<std::string> failures = set.errors;
    for (const auto& e : set.errors) out_ << "Failed to read " << e << std::endl;
    if (o_.strict && !failures.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("cannot read manifest ", failures.front()));
    }
    ResourceMapper mapper(*client_);
    int created = 0, existing = 0;
    for (const Manifest& m : CreationOrder(std::move(set.manifests))) {
      if (cancelled_) return absl::CancelledError("interrupted");
      absl::Status st = CreateOne(mapper, m, created, existing);
      if (!st.ok()) {
        std::string failure = absl::StrCat(m.Describe(), ": ", st.message());
        out_ << "Failed to create " << failure << std::endl;
        if (absl::IsCancelled(st) || absl::IsDeadlineExceeded(st)) return st;
        if (o_.strict) return absl::Status(st.code(), absl::StrCat("failed to create ", failure));
        failures.push_back(failure);
      }
    }
    out_ << "Self-hosted assets: " << created << " created, " << existing << " already existed, "
         << failures.size() << " failed" << std::endl;
    return absl::OkStatus();
  }

  absl::Status CreateOne(ResourceMapper& mapper, const Manifest& m, int& created, int& existing) {
    std::string api_version = m.object["apiVersion"], kind = m.object["kind"];
    absl::StatusOr<ApiResource> res = mapper.Find(api_version, kind);
    // A custom resource's type appears in discovery shortly after its CRD is established.
    for (int i = 0; absl::IsNotFound(res.status()) && crds_created_ && i < 30; ++i) {
      LB_RETURN_IF_ERROR(Pause(absl::StrCat("the API server to serve ", kind)));
      mapper.Forget(api_version);
      res = mapper.Find(api_version, kind);
    }
    LB_RETURN_IF_ERROR(res.status());
    Json obj = m.object;
    std::string ns = obj["metadata"].value("namespace", "");
    if (res->namespaced && ns.empty()) ns = "default";
    if (!res->namespaced) obj["metadata"].erase("namespace");
    auto answer = client_->Post(res->CollectionPath(ns), obj);
    if (absl::IsAlreadyExists(answer.status())) {
      ++existing;
      out_ << "Exists:  " << m.Describe() << std::endl;
    } else if (!answer.ok()) {
      return answer.status();
    } else {
      ++created;
      out_ << "Created: " << m.Describe() << std::endl;
    }
    if (kind == "CustomResourceDefinition") {
      crds_created_ = true;
      LB_RETURN_IF_ERROR(WaitEstablished(m, *res));
    }
    return absl::OkStatus();
  }

  absl::Status WaitForRequiredPods(const std::vector<Required>& required) {
    std::set<std::string> namespaces;
    for (const auto& r : required) namespaces.insert(r.ns);
    out_ << "Waiting for the self-hosted control plane: " << absl::StrJoin(o_.required_pods, ", ")
         << std::endl;
    std::map<std::string, std::string> phases;  // ns/pod -> phase
    std::map<std::string, std::string> nodes;   // node -> Ready status
    for (;;) {
      std::vector<std::string> pending;
      absl::Status err;
      std::map<std::string, std::string> now_phases;
      for (const auto& ns : namespaces) {
        err.Update(client_->List(absl::StrCat("/api/v1/namespaces/", ns, "/pods"), "", 500, [&](Json&& pod) {
          std::string name = pod["metadata"].value("name", "");
          for (const auto& r : required) {
            if (r.ns == ns && name.rfind(r.prefix, 0) == 0) {
              now_phases[ns + "/" + name] = pod.value("/status/phase"_json_pointer, std::string("Unknown"));
            }
          }
          return absl::OkStatus();
        }));
      }
      std::map<std::string, std::string> now_nodes;
      err.Update(client_->List("/api/v1/nodes", "", 500, [&](Json&& node) {
        std::string ready = "Unknown";
        for (const auto& c : node.value("/status/conditions"_json_pointer, Json::array())) {
          if (c.value("type", "") == "Ready") ready = c.value("status", "Unknown") == "True" ? "Ready" : "NotReady";
        }
        now_nodes[node["metadata"].value("name", "")] = ready;
        return absl::OkStatus();
      }));
      if (err.ok()) {
        for (const auto& [pod, phase] : now_phases) {
          auto it = phases.find(pod);
          if (it == phases.end() || it->second != phase) {
            out_ << "  pod " << pod << ": " << (it == phases.end() ? "" : it->second + " -> ") << phase << std::endl;
          }
        }
        for (const auto& [pod, phase] : phases) {
          if (!now_phases.count(pod)) out_ << "  pod " << pod << ": gone" << std::endl;
        }
        for (const auto& [node, ready] : now_nodes) {
          if (nodes[node] != ready) out_ << "  node " << node << ": " << ready << std::endl;
        }
        phases = now_phases;
        nodes = now_nodes;
        for (const auto& r : required) {
          bool running = false;
          std::string seen;
          for (const auto& [pod, phase] : phases) {
            if (pod.rfind(r.ns + "/" + r.prefix, 0) != 0) continue;
            running = running || phase == "Running";
            seen = phase;
          }
          if (!running) pending.push_back(absl::StrCat(r.Name(), seen.empty() ? " (no pod)" : " (" + seen + ")"));
        }
        if (nodes.empty()) pending.push_back("a registered node");
        for (const auto& [node, ready] : nodes) {
          if (ready != "Ready") pending.push_back(absl::StrCat("node ", node, " (", ready, ")"));
        }
        if (pending.empty()) return absl::OkStatus();
      } else {
        pending.push_back(absl::StrCat("the API server (", err.message(), ")"));
      }
      LB_RETURN_IF_ERROR(Pause(absl::StrJoin(pending, ", ")));
    }
  }

  const StartOptions& o_;
  std::ostream& out_;
  const std::atomic<bool>& cancelled_;
  Clock::time_point deadline_;
  std::unique_ptr<apiserver::Client> client_;
  bool crds_created_ = false;
};

}  // namespace

absl::Status Start(const StartOptions& options, std::ostream& out, const std::atomic<bool>& cancelled) {
  Runner runner(options, out, cancelled);
  return runner.Run();
}

}  // namespace lifeboat::bootstrap
