// `lifeboat checkpoint` (and `checkpoint`, the upstream image's entry point): the pod checkpointer
// daemon, with upstream's flags and environment plus flags for every path and port.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/log.h"
#include "base/status.h"
#include "checkpoint/api_watcher.h"
#include "checkpoint/checkpointer.h"
#include "checkpoint/metrics.h"
#include "checkpoint/sources.h"
#include "checkpoint/store.h"
#include "cli/commands.h"
#include "cli/duration.h"
#include "kube/kubeconfig.h"
#include "node/api_pods.h"
#include "node/cri.h"
#include "node/kubelet.h"

namespace lifeboat::cli {
namespace {

struct CheckpointFlags {
  std::string lock_file = "/var/run/lock/pod-checkpointer.lock";
  std::string kubeconfig = "/etc/kubernetes/kubeconfig";
  std::string runtime_endpoint = "unix:///var/run/dockershim.sock";
  std::string runtime_timeout = "2m";
  std::string grace = "1m";
  checkpoint::Layout layout;
  std::string kubelet_host;  // default: $HOST_IP, else 127.0.0.1
  int kubelet_port = 10250;
  int kubelet_read_only_port = 0;
  std::string kubelet_ca = "/var/lib/kubelet/pki/kubelet.crt";
  bool kubelet_ca_given = false;
  std::string tick = "1s";
  std::string refresh = "1m";
  std::string verify = "10m";
  std::string kubelet_refresh = "1m";
  std::string api_timeout = "10s";
  std::string token_max_age = "24h";
  std::string metrics_address = "127.0.0.1:9780";
};

absl::StatusOr<checkpoint::Duration> Duration(const std::string& flag, const std::string& text) {
  auto d = ParseDuration(text);
  if (!d.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, "=", text, " is not a duration (examples: 500ms, 30s, 2m, 1h30m)"));
  }
  return *d;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

// flock(2)s `path` for the life of the process: one checkpointer per node. Waits while another
// holds it (a checkpointer running from its own checkpoint next to its DaemonSet pod).
absl::StatusOr<int> Lock(const std::string& path) {
  std::filesystem::path p(path);
  if (p.has_parent_path()) LB_RETURN_IF_ERROR(base::MakeDirs(p.parent_path(), 0755));
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return absl::PermissionDeniedError(absl::StrCat("cannot open lock file ", path, ": ", std::strerror(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) {
      ::close(fd);
      return absl::InternalError(absl::StrCat("cannot lock ", path, ": ", std::strerror(errno)));
    }
    LOG_INFO("another checkpointer holds {}; waiting for it to exit", path);
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno != EINTR) {
        ::close(fd);
        return absl::InternalError(absl::StrCat("cannot lock ", path, ": ", std::strerror(errno)));
      }
    }
  }
  LOG_INFO("holding lock {}", path);
  return fd;
}

int RunCheckpointer(const CheckpointFlags& f) {
  auto fail_usage = [](const std::string& msg) {
    std::cerr << "checkpoint: " << msg << std::endl;
    return kExitUsage;
  };
  auto fail = [](const absl::Status& st) {
    LOG_ERROR("checkpointer stopped: {}", std::string(st.message()));
    std::cerr << "checkpoint: " << st.message() << std::endl;
    return kExitFailure;
  };
  checkpoint::Options o;
  o.node_name = Env("NODE_NAME");
  o.pod_name = Env("POD_NAME");
  o.pod_namespace = Env("POD_NAMESPACE");
  if (o.node_name.empty() || o.pod_name.empty() || o.pod_namespace.empty()) {
    return fail_usage(
        "the environment variables NODE_NAME, POD_NAME and POD_NAMESPACE must be set (the DaemonSet "
        "sets them from the downward API: spec.nodeName, metadata.name, metadata.namespace)");
  }
  auto runtime_timeout = Duration("--runtime-request-timeout", f.runtime_timeout);
  auto grace = Duration("--checkpoint-grace-period", f.grace);
  auto tick = Duration("--tick-period", f.tick);
  auto refresh = Duration("--refresh-period", f.refresh);
  auto verify = Duration("--verify-period", f.verify);
  auto api_timeout = Duration("--api-timeout", f.api_timeout);
  auto kubelet_refresh = Duration("--kubelet-refresh-period", f.kubelet_refresh);
  auto token_max_age = Duration("--token-max-age", f.token_max_age);
  for (const auto* d : {&runtime_timeout, &grace, &tick, &refresh, &verify, &api_timeout,
                        &kubelet_refresh, &token_max_age}) {
    if (!d->ok()) return fail_usage(std::string(d->status().message()));
  }
  if (*tick <= checkpoint::Duration::zero()) return fail_usage("--tick-period must be positive");
  if (*token_max_age <= checkpoint::Duration::zero())
    return fail_usage("--token-max-age must be positive");
  o.token_max_age = *token_max_age;
  o.grace = *grace;
  o.refresh = *refresh;
  o.verify = *verify;
  o.kubelet_refresh = *kubelet_refresh;

  // SIGTERM/SIGINT are taken by a thread of ours; block them before any library starts threads.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto lock = Lock(f.lock_file);
  if (!lock.ok()) return fail(lock.status());

  auto kubeconfig = kube::LoadKubeconfig(f.kubeconfig);
  if (!kubeconfig.ok()) return fail(kubeconfig.status());
  for (const auto& w : kubeconfig->warnings) LOG_WARN("{}", w);
  auto api_request_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*api_timeout);
  auto objects = node::ApiObjectReader::Create(*kubeconfig, o.pod_namespace, api_request_timeout);
  if (!objects.ok()) return fail(objects.status());

  node::KubeletOptions kubelet_options;
  kubelet_options.host = !f.kubelet_host.empty() ? f.kubelet_host
                         : !Env("HOST_IP").empty() ? Env("HOST_IP")
                                                   : "127.0.0.1";
  kubelet_options.secure_port = f.kubelet_port;
  kubelet_options.read_only_port = f.kubelet_read_only_port;
  kubelet_options.timeout = api_request_timeout;
  if (f.kubelet_port != 0) {
    // The kubelet's serving certificate is verified for the node's name: its self-signed one
    // (kubelet.crt) carries the hostname, a cluster-signed one (serverTLSBootstrap) too.
    kubelet_options.tls_server_name = o.node_name;
    absl::StatusOr<std::string> ca = f.kubelet_ca.empty() ? absl::NotFoundError("not given") : base::ReadFile(f.kubelet_ca);
    if (ca.ok()) {
      kubelet_options.ca_pem = *std::move(ca);
      LOG_INFO("the kubelet's serving certificate is verified with {} for {}", f.kubelet_ca, o.node_name);
    } else if (f.kubelet_ca_given && !f.kubelet_ca.empty()) {
      return fail_usage(absl::StrCat("--kubelet-certificate-authority: ", ca.status().message()));
    } else {
      LOG_WARN(
          "cannot verify the kubelet's serving certificate (--kubelet-certificate-authority {}: {}): its /pods is "
          "read over an unverified connection with the kubeconfig's client certificate only, never its bearer "
          "token. A kubelet that refuses that leaves \"known to the kubelet\" unknown: checkpoints are still "
          "written for parents running here and activated when they stop, but a parent that is not running "
          "is not activated on the kubelet's word (the fail-safe)",
          f.kubelet_ca.empty() ? "\"\"" : f.kubelet_ca, std::string(ca.status().message()));
    }
  }
  auto kubelet = node::KubeletClient::Create(kubelet_options, &*kubeconfig);
  if (!kubelet.ok()) return fail(kubelet.status());

  auto pods = node::ApiPodLister::Create(*kubeconfig, o.pod_namespace, o.node_name, api_request_timeout);
  if (!pods.ok()) return fail(pods.status());
  auto watch = node::ApiPodWatch::Create(*kubeconfig, o.pod_namespace, o.node_name, api_request_timeout);
  if (!watch.ok()) return fail(watch.status());
  checkpoint::ApiWatcherOptions watch_options;
  watch_options.retry_max = *tick;

  auto cri = node::CriClient::Create(
      {f.runtime_endpoint, std::chrono::duration_cast<std::chrono::milliseconds>(*runtime_timeout)});
  if (!cri.ok()) return fail(cri.status());

  checkpoint::Store store(f.layout);
  if (absl::Status st = store.Init(); !st.ok()) return fail(st);
  checkpoint::Metrics metrics;
  std::unique_ptr<checkpoint::MetricsServer> server;
  if (!f.metrics_address.empty()) {
    // Healthy while ticks complete; a tick may legitimately wait for the runtime and the API.
    auto stale = std::max<checkpoint::Duration>(10 * *tick, *runtime_timeout + 2 * *api_timeout + *tick);
    auto s = checkpoint::MetricsServer::Start(f.metrics_address, &metrics, stale);
    if (!s.ok()) return fail(s.status());
    server = *std::move(s);
    LOG_INFO("serving /healthz and /metrics on {} (port {})", f.metrics_address, server->port());
  }

  checkpoint::NodeSources sources(
      std::make_unique<checkpoint::ApiWatcher>(o.pod_namespace, *std::move(pods), *std::move(watch), watch_options),
      *std::move(kubelet), *std::move(cri), *std::move(objects));
  checkpoint::Checkpointer checkpointer(o, sources, store, metrics);
  LOG_INFO("pod checkpointer for node {} (pod {}/{}): parents in namespace {}, kubelet at {}, runtime at {}, "
           "grace period {}s, tick {}ms",
           o.node_name, o.pod_namespace, o.pod_name, o.pod_namespace, kubelet_options.host, f.runtime_endpoint,
           std::chrono::duration_cast<std::chrono::seconds>(o.grace).count(),
           std::chrono::duration_cast<std::chrono::milliseconds>(*tick).count());

  // SIGTERM/SIGINT are blocked in every thread and taken here, between ticks (a thread only for
  // sigwait would cost its stack and a copy of every library's thread-local storage).
  auto wait = [&signals](checkpoint::Time until) {
    for (;;) {
      auto left =
          std::chrono::duration_cast<std::chrono::nanoseconds>(until - checkpoint::Clock::now());
      if (left.count() <= 0) return true;
      timespec ts{static_cast<time_t>(left.count() / 1000000000),
                  static_cast<long>(left.count() % 1000000000)};
      int sig = sigtimedwait(&signals, nullptr, &ts);
      if (sig == SIGTERM || sig == SIGINT) {
        LOG_INFO("received {}, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        return false;
      }
      if (sig < 0 && errno == EAGAIN) return true;  // the time is up; EINTR: wait again
    }
  };
  checkpointer.Run(*tick, wait);
  ::close(*lock);
  return kExitOk;
}

}  // namespace

Runner AddCheckpointCommand(CLI::App& app) {
  auto f = std::make_shared<CheckpointFlags>();
  // As with upstream's Go flags, a repeated flag takes its last value (manifests often append).
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.footer(
      "Environment: NODE_NAME, POD_NAME, POD_NAMESPACE (required; from the downward API) and HOST_IP\n"
      "(the kubelet's address, default 127.0.0.1).\n"
      "Durations are written like 500ms, 30s, 2m. Paths must be the host's: the kubelet reads the\n"
      "manifests and mounts the secret files.");
  app.add_option("--lock-file", f->lock_file, "flock()ed so that one checkpointer runs per node")
      ->capture_default_str();
  app.add_option("--kubeconfig", f->kubeconfig, "kubeconfig for the API server (and the kubelet's secure port)")
      ->capture_default_str();
  app.add_option("--container-runtime-endpoint", f->runtime_endpoint,
                 "CRI socket of the container runtime (e.g. unix:///run/containerd/containerd.sock)")
      ->capture_default_str();
  app.add_option("--runtime-request-timeout", f->runtime_timeout, "timeout of each CRI call")->capture_default_str();
  app.add_option("--checkpoint-grace-period", f->grace,
                 "how long a checkpoint outlives its parent's deletion from the API")
      ->capture_default_str();
  app.add_option("--inactive-manifest-dir", f->layout.inactive_dir, "where inactive checkpoints are kept")
      ->capture_default_str();
  app.add_option("--pod-manifest-path", f->layout.manifest_dir,
                 "the kubelet's static pod directory: active checkpoints go there")
      ->capture_default_str();
  app.add_option("--checkpoint-secrets-dir", f->layout.secrets_root, "root of checkpointed Secrets")
      ->capture_default_str();
  app.add_option("--checkpoint-configmaps-dir", f->layout.configmaps_root, "root of checkpointed ConfigMaps")
      ->capture_default_str();
  app.add_option("--kubelet-host", f->kubelet_host, "the kubelet's address (default: $HOST_IP, else 127.0.0.1)");
  app.add_option("--kubelet-port", f->kubelet_port, "the kubelet's secure port (0: do not use)")
      ->capture_default_str();
  app.add_option("--kubelet-read-only-port", f->kubelet_read_only_port,
                 "the kubelet's read-only port (plain HTTP, unauthenticated: trusts whatever answers on it), "
                 "used when the secure one fails (0: do not use)")
      ->capture_default_str();
  app.add_option("--kubelet-certificate-authority", f->kubelet_ca,
                 "CA bundle verifying the kubelet's serving certificate (for $NODE_NAME); the default is the "
                 "kubelet's own self-signed pair (kubelet --cert-dir). Unverified, no bearer token is sent")
      ->capture_default_str()
      ->each([f](const std::string&) { f->kubelet_ca_given = true; });
  app.add_option("--tick-period", f->tick, "how often the node is observed and checkpoints updated")
      ->capture_default_str();
  app.add_option("--refresh-period", f->refresh,
                 "how often each checkpointed Secret/ConfigMap is fetched again (a change rewrites the "
                 "checkpoints that use it)")
      ->capture_default_str();
  app.add_option("--verify-period", f->verify,
                 "how often each checkpoint is compared with the disk and repaired")
      ->capture_default_str();
  app.add_option("--kubelet-refresh-period", f->kubelet_refresh,
                 "the kubelet's /pods is read when what it says decides a checkpoint's state (a parent not "
                 "running here whose checkpoint is not yet started or stopped), and otherwise this often, to "
                 "notice a kubelet that cannot be read (0: every tick, as upstream)")
      ->capture_default_str();
  app.add_option("--api-timeout", f->api_timeout, "timeout of each API server and kubelet request")
      ->capture_default_str();
  app.add_option(
         "--token-max-age", f->token_max_age,
         "a projected service-account token in a checkpoint is requested again at 80% of its life, "
         "as the kubelet does, or once it is this old, whichever comes first (the kubelet's limit: "
         "24h)")
      ->capture_default_str();
  app.add_option("--metrics-address", f->metrics_address,
                 "host:port for /healthz and /metrics (empty: off; port 0: any free port)")
      ->capture_default_str();
  return [f] { return RunCheckpointer(*f); };
}

}  // namespace lifeboat::cli
