#include <iostream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "apiserver/client.h"
#include "base/log.h"
#include "base/status.h"
#include "cli/commands.h"
#include "kube/kubeconfig.h"
#include "etcd/client.h"
#include "etcd/snapshot.h"
#include "recovery/asset_dir.h"
#include "recovery/etcd_source.h"
#include "storage/transformer.h"
#include "recovery/render.h"
#include "recovery/source.h"

namespace lifeboat::cli {
namespace {

struct RecoverFlags {
  std::string recovery_dir;
  std::string kubeconfig;
  std::string etcd_servers;
  std::string etcd_ca;
  std::string etcd_cert;
  std::string etcd_key;
  std::string etcd_prefix = "/registry";
  std::string ns = "kube-system";
  std::string encryption_config;
  std::string snapshot;
  bool skip_hash_check = false;
  bool strict_decoding = false;
};

absl::StatusOr<std::unique_ptr<recovery::ObjectSource>> OpenSource(const RecoverFlags& f,
                                                                   const kube::Kubeconfig& kc) {
  if (!f.etcd_servers.empty() || !f.snapshot.empty()) {
    std::unique_ptr<storage::Transformer> transformer;
    if (!f.encryption_config.empty()) {
      LB_ASSIGN_OR_RETURN(transformer, storage::Transformer::FromFile(f.encryption_config, f.etcd_prefix));
    }
    std::unique_ptr<etcd::KvReader> kv;
    if (!f.snapshot.empty()) {
      etcd::SnapshotOptions so;
      so.skip_hash_check = f.skip_hash_check;
      // Only what recover reads: memory grows with one namespace, not with the cluster.
      so.key_prefixes = recovery::EtcdSource::KeyPrefixes(f.etcd_prefix, f.ns);
      LB_ASSIGN_OR_RETURN(kv, etcd::SnapshotReader::Open(f.snapshot, so));
    } else {
      etcd::EtcdClientOptions eo;
      eo.endpoints = f.etcd_servers;
      eo.ca_file = f.etcd_ca;
      eo.cert_file = f.etcd_cert;
      eo.key_file = f.etcd_key;
      LB_ASSIGN_OR_RETURN(kv, etcd::EtcdClient::Connect(eo));
    }
    return std::unique_ptr<recovery::ObjectSource>(std::make_unique<recovery::EtcdSource>(
        std::move(kv), f.etcd_prefix, std::move(transformer)));
  }
  if (!f.encryption_config.empty() || f.skip_hash_check || f.strict_decoding) {
    LOG_WARN("--encryption-provider-config, --skip-hash-check and --strict-decoding only apply "
             "when reading etcd (--etcd-servers or --etcd-snapshot); the API server serves "
             "decrypted objects as its own JSON");
  }
  LB_ASSIGN_OR_RETURN(auto client, apiserver::Client::Create(kc));
  return std::unique_ptr<recovery::ObjectSource>(
      std::make_unique<recovery::ApiServerSource>(std::move(client)));
}

absl::Status Recover(const RecoverFlags& f) {
  LB_ASSIGN_OR_RETURN(kube::Kubeconfig kc, kube::LoadKubeconfig(f.kubeconfig));
  for (const auto& w : kc.warnings) LOG_WARN("{}", w);
  LB_ASSIGN_OR_RETURN(auto source, OpenSource(f, kc));
  std::cout << "Reading the control plane of namespace " << f.ns << " from " << source->Describe()
            << std::endl;
  std::vector<storage::DroppedField> dropped;
  LB_ASSIGN_OR_RETURN(recovery::ClusterObjects objects,
                      recovery::FetchControlPlane(*source, f.ns, &dropped));
  if (!dropped.empty() && f.strict_decoding) {
    std::string all;
    for (const auto& d : dropped) absl::StrAppend(&all, "\n  ", d.Message());
    return absl::FailedPreconditionError(absl::StrCat(
        dropped.size(), " field(s) of objects to render cannot be decoded and "
        "--strict-decoding refuses to drop them (nothing was written):", all,
        "\nRun without --strict-decoding to render without them, or with a Lifeboat whose "
        "schema knows the Kubernetes release that wrote them."));
  }
  for (const auto& d : dropped) LOG_WARN("{}", d.Message());
  for (const auto& w : objects.workloads) {
    std::cout << "  found " << w.value("kind", "") << " " << f.ns << "/"
              << w["metadata"].value("name", "") << std::endl;
  }
  std::cout << "  read " << objects.secrets.size() << " referenced Secret(s) and "
            << objects.config_maps.size() << " ConfigMap(s)" << std::endl;
  LB_ASSIGN_OR_RETURN(recovery::AssetSet assets, recovery::Render(objects, kc.Flatten()));
  for (const auto& note : assets.notes) LOG_WARN("{}", note);
  LB_RETURN_IF_ERROR(recovery::WriteAssetDir(assets, f.recovery_dir));
  std::cout << "Wrote " << assets.files.size() << " files to " << f.recovery_dir << ":" << std::endl;
  for (const auto& [rel, file] : assets.files) {
    if (rel.rfind("bootstrap-manifests/", 0) == 0) std::cout << "  " << rel << std::endl;
  }
  std::cout << "Next, on a control-plane node: sudo lifeboat start --asset-dir=" << f.recovery_dir
            << std::endl;
  return absl::OkStatus();
}

}  // namespace

Runner AddRecoverCommand(CLI::App& app) {
  auto f = std::make_shared<RecoverFlags>();
  app.footer(
      "Sources:\n"
      "  API server still running:   --kubeconfig only\n"
      "  etcd still running:         --etcd-servers (and --etcd-*-path for TLS)\n"
      "  only an etcd backup left:   --etcd-snapshot (a file from `etcdctl snapshot save`)\n"
      "Add --encryption-provider-config (the API server's own file) when Secrets or ConfigMaps are\n"
      "encrypted at rest.\n"
      "The recovery dir receives bootstrap-manifests/, tls/ (Secrets and ConfigMaps, 0600) and\n"
      "auth/kubeconfig. Then run `lifeboat start --asset-dir=<recovery-dir>`.\n"
      "Fields etcd holds that Lifeboat's schema (Kubernetes 1.16 to 1.36) cannot decode: in an\n"
      "object that is rendered (a control-plane DaemonSet/Deployment, a Secret or ConfigMap it\n"
      "references), such a field is dropped with a warning naming the etcd key, the field's path and\n"
      "number (the output lacks it); --strict-decoding refuses instead (exit 1, nothing written).\n"
      "Objects that are not rendered never stop `recover`.\n");
  app.add_option("--recovery-dir", f->recovery_dir, "Output directory for the bootstrap control plane")
      ->required();
  app.add_option("--kubeconfig", f->kubeconfig,
                 "kubeconfig of the cluster (read from when no etcd flag is given; copied to "
                 "auth/kubeconfig)")
      ->required();
  app.add_option("--etcd-servers", f->etcd_servers, "etcd endpoints, comma-separated (https://host:port)");
  app.add_option("--etcd-ca-path", f->etcd_ca, "CA bundle that signed the etcd server certificates");
  app.add_option("--etcd-certificate-path", f->etcd_cert, "client certificate for etcd");
  app.add_option("--etcd-private-key-path", f->etcd_key, "client key for etcd");
  app.add_option("--etcd-prefix", f->etcd_prefix, "the API server's --etcd-prefix")
      ->capture_default_str();
  app.add_option("--namespace", f->ns, "namespace of the self-hosted control plane")
      ->capture_default_str();
  app.add_option("--encryption-provider-config", f->encryption_config,
                 "the API server's EncryptionConfiguration, to decrypt values encrypted at rest");
  app.add_option("--etcd-snapshot", f->snapshot,
                 "read from an etcd snapshot file instead of a running etcd (no etcd needed)")
      ->excludes("--etcd-servers");
  app.add_flag("--skip-hash-check", f->skip_hash_check,
               "accept a snapshot without its SHA-256 trailer (a member/snap/db copied from a data dir)");
  app.add_flag("--strict-decoding", f->strict_decoding,
               "reading etcd: refuse (exit 1, nothing written) when an object to render holds a "
               "field Lifeboat's schema cannot decode, instead of dropping it with a warning");
  return [f] {
    absl::Status st = Recover(*f);
    if (!st.ok()) {
      LOG_ERROR("recover failed: {}", std::string(st.message()));
      return kExitFailure;
    }
    return kExitOk;
  };
}

}  // namespace lifeboat::cli
