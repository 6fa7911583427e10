#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "base/file.h"
#include "base/log.h"
#include "cli/commands.h"
#include "cli/duration.h"
#include "doctor/doctor.h"

namespace lifeboat::cli {
namespace {

constexpr const char* kDoctorFooter =
    R"(Read only: doctor writes nothing but the --metrics-file, and only when asked; safe from cron
or CI. Exit status: 0 ready (every check ok), 1 not ready (any warning or failure), 2 usage.

Checks (one line each: ok / WARN / FAIL, what was found, -> what to do):
  coverage      every node running a pod annotated checkpointer.alpha.coreos.com/checkpoint="true"
                also runs a checkpointer pod (--checkpointer-selector) that is Running and Ready.
  checkpoint    (on a node: --node-name, $NODE_NAME, or when --inactive-manifest-dir exists) each
                annotated pod on this node has an inactive checkpoint that is a valid static pod and
                is what the checkpointer would write now: same images, commands, flags, Secret and
                ConfigMap contents; an active copy in --pod-manifest-path equals it; manifest and
                secret files 0600, their directories 0700.
  dry-run       per source given (API server; etcd with --etcd-servers; the newest --etcd-snapshot),
                what `recover` would render, without writing it: objects that would be missing,
                Secrets no --encryption-provider-config key decrypts, fields the schema does not know.
  agreement     the API server's and etcd's renderings are identical (failure otherwise); a
                backup's rendering differs from the live one (warning: the backup is stale).
  backup        each --etcd-snapshot opens and its SHA-256 trailer verifies; the newest is younger
                than --backup-max-age; its revision is not ahead of the live etcd's.
  certificates  certificates in the recovered Secrets and ConfigMaps and in the kubeconfig: expired
                fails, expiring within --certificate-window warns.
  source        the kubeconfig could not be loaded.

Output: text (default), or -o json (shape: doc/doctor-report.schema.json). --metrics-file writes
the same as Prometheus text for node_exporter's textfile collector (atomically).
)";

struct DoctorFlags {
  doctor::Options options;
  std::string output = "text";
  std::string metrics_file;
  std::string certificate_window = "720h";
  std::string backup_max_age = "25h";
  std::string checkpointer_selector = "k8s-app=pod-checkpointer";
  bool node_given = false;
};

absl::StatusOr<absl::Duration> Duration(const std::string& flag, const std::string& text) {
  auto d = ParseDuration(text);
  if (!d.ok()) return absl::InvalidArgumentError(absl::StrCat(flag, ": ", d.status().message()));
  return absl::FromChrono(*d);
}

int RunDoctor(DoctorFlags& f, CLI::App& app) {
  doctor::Options& o = f.options;
  auto window = Duration("--certificate-window", f.certificate_window);
  auto max_age = Duration("--backup-max-age", f.backup_max_age);
  std::vector<std::string> sel = absl::StrSplit(f.checkpointer_selector, absl::MaxSplits('=', 1));
  if (!window.ok() || !max_age.ok() || sel.size() != 2 || sel[0].empty()) {
    std::cerr << (!window.ok()    ? window.status().message()
                  : !max_age.ok() ? max_age.status().message()
                                  : "--checkpointer-selector: want key=value")
              << std::endl;
    return kExitUsage;
  }
  o.certificate_window = *window;
  o.backup_max_age = *max_age;
  o.checkpointers = {sel[0], sel[1]};
  // The node's checkpoints are checked when we know we are on a node.
  if (o.node_name.empty()) {
    if (const char* env = std::getenv("NODE_NAME"); env != nullptr) o.node_name = env;
  }
  std::error_code ec;
  bool dirs_given = app.count("--inactive-manifest-dir") + app.count("--checkpoint-secrets-dir") +
                        app.count("--checkpoint-configmaps-dir") >
                    0;
  o.check_node = !o.node_name.empty() || dirs_given ||
                 std::filesystem::is_directory(o.layout.inactive_dir, ec);
  if (o.check_node && o.node_name.empty()) {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) == 0) o.node_name = host;
  }

  absl::Time now = absl::Now();
  doctor::Report report = doctor::RunDoctor(o, now);
  if (f.output == "json") {
    std::cout << doctor::ToJson(report, now).dump(2) << std::endl;
  } else {
    std::cout << doctor::FormatText(report) << std::flush;
  }
  if (!f.metrics_file.empty()) {
    absl::Status st =
        base::WriteFileAtomic(f.metrics_file, doctor::ToPrometheus(report, now), 0644);
    if (!st.ok()) {
      LOG_ERROR("cannot write --metrics-file: {}", std::string(st.message()));
      return kExitFailure;
    }
  }
  return report.Ready() ? kExitOk : kExitFailure;
}

}  // namespace

Runner AddDoctorCommand(CLI::App& app) {
  auto f = std::make_shared<DoctorFlags>();
  doctor::Options& o = f->options;
  app.footer(kDoctorFooter);
  app.add_option("--kubeconfig", o.kubeconfig,
                 "kubeconfig of the cluster (default: $KUBECONFIG, ~/.kube/config)");
  app.add_option("--namespace", o.ns, "namespace of the self-hosted control plane")
      ->capture_default_str();
  app.add_option("--etcd-servers", o.etcd_servers,
                 "etcd endpoints, comma-separated: also dry-run recover from etcd");
  app.add_option("--etcd-ca-path", o.etcd_ca, "CA bundle that signed the etcd server certificates");
  app.add_option("--etcd-certificate-path", o.etcd_cert, "client certificate for etcd");
  app.add_option("--etcd-private-key-path", o.etcd_key, "client key for etcd");
  app.add_option("--etcd-prefix", o.etcd_prefix, "the API server's --etcd-prefix")
      ->capture_default_str();
  app.add_option("--encryption-provider-config", o.encryption_config,
                 "the API server's EncryptionConfiguration, to decrypt values encrypted at rest");
  app.add_option("--etcd-snapshot", o.snapshots,
                 "an etcd backup file (repeat for several; the newest is dry-run recovered)");
  app.add_flag("--skip-hash-check", o.skip_hash_check,
               "do not verify the backups' SHA-256 trailers");
  app.add_option(
      "--node-name", o.node_name,
      "check this node's checkpoints (default: $NODE_NAME; the host name when the checkpoint "
      "dirs exist)");
  app.add_option("--inactive-manifest-dir", o.layout.inactive_dir,
                 "the checkpointer's inactive checkpoints")
      ->capture_default_str();
  app.add_option("--pod-manifest-path", o.layout.manifest_dir,
                 "the kubelet's static pod directory (active checkpoints)")
      ->capture_default_str();
  app.add_option("--checkpoint-secrets-dir", o.layout.secrets_root, "root of checkpointed Secrets")
      ->capture_default_str();
  app.add_option("--checkpoint-configmaps-dir", o.layout.configmaps_root,
                 "root of checkpointed ConfigMaps")
      ->capture_default_str();
  app.add_option("--checkpointer-selector", f->checkpointer_selector,
                 "label key=value of checkpointer pods")
      ->capture_default_str();
  app.add_option("--certificate-window", f->certificate_window,
                 "warn about certificates expiring within this time (Go duration; 720h = 30 days)")
      ->capture_default_str();
  app.add_option("--backup-max-age", f->backup_max_age, "warn when the newest backup is older")
      ->capture_default_str();
  app.add_option("-o,--output", f->output, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_option(
      "--metrics-file", f->metrics_file,
      "also write the result as Prometheus text here (node_exporter textfile collector)");
  CLI::App* self = &app;
  return [f, self] { return RunDoctor(*f, *self); };
}

}  // namespace lifeboat::cli
