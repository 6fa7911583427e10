#include "doctor/doctor.h"

#include <sys/stat.h>

#include <filesystem>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "apiserver/client.h"
#include "base/file.h"
#include "base/log.h"
#include "checkpoint/pod.h"
#include "etcd/client.h"
#include "etcd/snapshot.h"
#include "kube/kubeconfig.h"
#include "kube/static_pod.h"
#include "recovery/etcd_source.h"
#include "recovery/source.h"
#include "storage/transformer.h"

namespace lifeboat::doctor {

namespace {

namespace fs = std::filesystem;

// Passes reads through, and turns a referenced object that exists but cannot be decoded or
// decrypted into "absent" after recording why, so that one bad Secret does not hide the rest.
class RecordingSource : public recovery::ObjectSource {
 public:
  RecordingSource(recovery::ObjectSource& inner, SourceRead& read) : inner_(inner), read_(read) {}
  absl::Status ForEachWorkload(absl::string_view ns,
                               const std::function<absl::Status(Json&&)>& each) override {
    return inner_.ForEachWorkload(ns, each);
  }
  absl::StatusOr<Json> Get(absl::string_view kind, absl::string_view ns,
                           absl::string_view name) override {
    auto got = inner_.Get(kind, ns, name);
    if (got.ok() || absl::IsNotFound(got.status())) return got;
    absl::StatusCode code = got.status().code();
    if (code == absl::StatusCode::kInvalidArgument ||
        code == absl::StatusCode::kFailedPrecondition || code == absl::StatusCode::kUnimplemented) {
      read_.unreadable[absl::StrCat(kind, " ", ns, "/", name)] =
          std::string(got.status().message());
      return absl::NotFoundError("unreadable");
    }
    return got;
  }
  std::string Describe() const override { return inner_.Describe(); }
  std::vector<storage::DroppedField> DroppedFields(const Json& object) const override {
    return inner_.DroppedFields(object);
  }

 private:
  recovery::ObjectSource& inner_;
  SourceRead& read_;
};

SourceRead Read(const std::string& name, recovery::ObjectSource& source, const std::string& ns) {
  SourceRead read;
  read.name = name;
  read.description = source.Describe();
  RecordingSource recording(source, read);
  std::vector<storage::DroppedField> dropped;
  auto objects = recovery::FetchControlPlane(recording, ns, &dropped);
  for (const auto& d : dropped) {
    read.decode_warnings[d.etcd_key].push_back(
        absl::StrCat(d.field.path, " (field ", d.field.number, ")"));
  }
  if (objects.ok()) {
    read.objects = *std::move(objects);
  } else {
    read.status = objects.status();
  }
  return read;
}

SourceRead Unreadable(const std::string& name, const std::string& description,
                      absl::Status status) {
  SourceRead read;
  read.name = name;
  read.description = description;
  read.status = std::move(status);
  return read;
}

// Files and directories under `root`, not following symlinks; file contents only where `read`.
void Walk(const fs::path& root, bool read, DiskTree& into) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(root, ec))) return;
  auto add = [&](const fs::path& p) {
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0) return;
    DiskEntry e;
    e.dir = S_ISDIR(st.st_mode);
    e.mode = st.st_mode & 07777;
    if (S_ISREG(st.st_mode) && read) {
      auto data = base::ReadFile(p);
      if (data.ok()) e.data = *std::move(data);
    }
    if (e.dir || S_ISREG(st.st_mode)) into[p.string()] = std::move(e);
  };
  add(root);
  if (!fs::is_directory(fs::symlink_status(root, ec))) return;
  for (fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end;
       !ec && it != end; it.increment(ec)) {
    add(it->path());
  }
}

// The Secrets and ConfigMaps `parents` reference, read through the API server.
std::map<std::string, Json> ParentObjects(const std::vector<const Json*>& parents,
                                          recovery::ObjectSource& api, const std::string& ns,
                                          std::vector<std::string>& errors) {
  std::map<std::string, Json> out;
  for (const Json* p : parents) {
    auto refs = kube::ReferencedObjects(p->value("spec", Json::object()));
    for (const auto& [kind, names] :
         {std::pair{"Secret", &refs.secrets}, {"ConfigMap", &refs.config_maps}}) {
      for (const auto& name : *names) {
        std::string key = absl::StrCat(kind, "/", name);
        if (out.count(key)) continue;
        auto obj = api.Get(kind, ns, name);
        if (obj.ok()) {
          out[key] = *std::move(obj);
        } else if (!absl::IsNotFound(obj.status())) {
          errors.push_back(absl::StrCat(key, ": ", obj.status().message()));
        }
      }
    }
  }
  return out;
}

}  // namespace

Report RunDoctor(const Options& o, absl::Time now) {
  Report report;
  std::optional<recovery::AssetSet> api_assets, etcd_assets, backup_assets;
  std::optional<recovery::ClusterObjects> objects_for_certs;
  std::string kubeconfig_flat;
  std::vector<PemSource> pems;  // certificates a recovery depends on

  // The API server: pods (coverage, the node's parents) and the dry run through it.
  auto kc = kube::LoadKubeconfig(o.kubeconfig);
  Json pods = Json::array();
  bool have_pods = false;
  if (!kc.ok()) {
    report.Add({"source", "api-server", Level::kFail,
                absl::StrCat("no usable kubeconfig: ", kc.status().message()),
                "pass --kubeconfig (recover and start need it too)"});
  } else {
    kubeconfig_flat = kc->Flatten();
    if (!kc->ca_pem.empty())
      pems.push_back(
          {absl::StrCat("kubeconfig ", kc->source, ": certificate-authority"), kc->ca_pem});
    if (!kc->client_cert_pem.empty()) {
      pems.push_back(
          {absl::StrCat("kubeconfig ", kc->source, ": client-certificate"), kc->client_cert_pem});
    }
    auto client = apiserver::Client::Create(*kc);
    absl::Status listed = client.ok() ? absl::OkStatus() : client.status();
    if (listed.ok()) {
      listed = (*client)->List(absl::StrCat("/api/v1/namespaces/", o.ns, "/pods"), "", 500,
                               [&](Json&& pod) {
                                 pods.push_back(std::move(pod));
                                 return absl::OkStatus();
                               });
    }
    if (!listed.ok()) {
      report.Add({"coverage", "cluster", Level::kFail,
                  absl::StrCat("cannot list the pods of ", o.ns, " at ", kc->server, ": ",
                               listed.message()),
                  "check that the API server answers and the kubeconfig may list pods"});
    } else {
      have_pods = true;
      report.Append(CheckCoverage(pods, o.checkpointers));
    }
    if (client.ok()) {
      recovery::ApiServerSource api(*std::move(client));
      SourceRead read = Read("api-server", api, o.ns);
      DryRun dry;
      report.Append(CheckDryRun(read, kubeconfig_flat, &dry));
      api_assets = std::move(dry.assets);
      if (read.status.ok()) objects_for_certs = std::move(read.objects);

      if (o.check_node && have_pods) {
        std::vector<const Json*> parents = ParentsOnNode(pods, o.node_name);
        std::vector<std::string> errors;
        auto api2 = apiserver::Client::Create(*kc);
        std::map<std::string, Json> objects;
        if (api2.ok()) {
          recovery::ApiServerSource src(*std::move(api2));
          objects = ParentObjects(parents, src, o.ns, errors);
        }
        for (const auto& e : errors) {
          report.Add({"checkpoint", o.node_name, Level::kWarn, absl::StrCat("cannot read ", e),
                      "check the API server and the kubeconfig's permissions"});
        }
        kube::ObjectLookup lookup = [&](absl::string_view kind,
                                        absl::string_view name) -> const Json* {
          auto it = objects.find(absl::StrCat(kind, "/", name));
          return it == objects.end() ? nullptr : &it->second;
        };
        DiskTree disk;
        Walk(o.layout.inactive_dir, true, disk);
        for (const Json* p : parents) {
          checkpoint::PodId id = checkpoint::IdOf(*p);
          Walk(o.layout.ActiveManifest(id), true, disk);
          Walk(o.layout.SecretsDir(id), true, disk);
          Walk(o.layout.ConfigMapsDir(id), true, disk);
        }
        report.Append(CheckCheckpoints(o.node_name, parents, lookup, o.layout, disk));
      }
    } else {
      report.Add({"dry-run", "api-server", Level::kFail,
                  absl::StrCat("no API server client: ", client.status().message()),
                  "fix the kubeconfig"});
    }
    if (o.check_node && !have_pods) {
      report.Add(
          {"checkpoint", o.node_name, Level::kFail,
           "cannot compare this node's checkpoints with their parents without the API server",
           "run doctor while the API server answers"});
    }
  }

  // A live etcd, read as `recover --etcd-servers` reads it.
  std::optional<int64_t> live_revision;
  if (!o.etcd_servers.empty()) {
    etcd::EtcdClientOptions eo;
    eo.endpoints = o.etcd_servers;
    eo.ca_file = o.etcd_ca;
    eo.cert_file = o.etcd_cert;
    eo.key_file = o.etcd_key;
    SourceRead read;
    auto client = etcd::EtcdClient::Connect(eo);
    std::unique_ptr<storage::Transformer> transformer;
    absl::Status st = client.status();
    if (st.ok() && !o.encryption_config.empty()) {
      auto t = storage::Transformer::FromFile(o.encryption_config, o.etcd_prefix);
      if (t.ok()) transformer = *std::move(t);
      st = t.status();
    }
    if (!st.ok()) {
      read = Unreadable("etcd", absl::StrCat("etcd at ", o.etcd_servers), st);
    } else {
      etcd::EtcdClient* live = client->get();
      recovery::EtcdSource source(*std::move(client), o.etcd_prefix, std::move(transformer));
      read = Read("etcd", source, o.ns);
      if (read.status.ok() && live->revision() > 0) live_revision = live->revision();
    }
    DryRun dry;
    report.Append(CheckDryRun(read, kubeconfig_flat, &dry));
    etcd_assets = std::move(dry.assets);
    if (read.status.ok() && !objects_for_certs) objects_for_certs = std::move(read.objects);
  }

  // Backup files: each must open and verify; the newest is rendered.
  if (!o.snapshots.empty()) {
    std::vector<BackupFile> files;
    std::unique_ptr<etcd::SnapshotReader> newest;
    absl::Time newest_time = absl::InfinitePast();
    std::string newest_path;
    for (const auto& path : o.snapshots) {
      BackupFile f;
      f.path = path;
      f.hash_checked = !o.skip_hash_check;
      struct stat st;
      if (::stat(path.c_str(), &st) == 0) f.modified = absl::FromUnixSeconds(st.st_mtim.tv_sec);
      etcd::SnapshotOptions so;
      so.skip_hash_check = o.skip_hash_check;
      // Only what recover reads: memory grows with one namespace, not with the cluster.
      so.key_prefixes = recovery::EtcdSource::KeyPrefixes(o.etcd_prefix, o.ns);
      auto reader = etcd::SnapshotReader::Open(path, so);
      f.open = reader.status();
      if (reader.ok()) {
        f.has_trailer = (*reader)->has_hash_trailer();
        f.revision = (*reader)->revision();
        if (!newest || f.modified > newest_time) {
          newest = *std::move(reader);
          newest_time = f.modified;
          newest_path = path;
        }
      }
      files.push_back(std::move(f));
    }
    report.Append(CheckBackups(files, now, o.backup_max_age, live_revision, &report.gauges));
    SourceRead read;
    if (!newest) {
      read = Unreadable("backup", absl::StrCat("the backup file(s) given"),
                        absl::FailedPreconditionError("no backup file could be opened"));
    } else {
      std::unique_ptr<storage::Transformer> transformer;
      absl::Status st;
      if (!o.encryption_config.empty()) {
        auto t = storage::Transformer::FromFile(o.encryption_config, o.etcd_prefix);
        if (t.ok()) transformer = *std::move(t);
        st = t.status();
      }
      if (!st.ok()) {
        read = Unreadable("backup", newest->Describe(), st);
      } else {
        recovery::EtcdSource source(std::move(newest), o.etcd_prefix, std::move(transformer));
        read = Read("backup", source, o.ns);
      }
    }
    DryRun dry;
    report.Append(CheckDryRun(read, kubeconfig_flat, &dry));
    backup_assets = std::move(dry.assets);
    if (read.status.ok() && !objects_for_certs) objects_for_certs = std::move(read.objects);
  }

  // Certificates in the objects a recovery would use (the first source that could be read) and
  // in the kubeconfig.
  if (objects_for_certs) {
    std::vector<PemSource> in_objects = CertificatesIn(*objects_for_certs, o.ns);
    pems.insert(pems.end(), in_objects.begin(), in_objects.end());
  }
  report.Append(CheckCertificates(pems, now, o.certificate_window, &report.gauges));

  if (api_assets && etcd_assets)
    report.Append(CheckAgreement("api-server", *api_assets, "etcd", *etcd_assets, true));
  const auto* live = api_assets ? &*api_assets : etcd_assets ? &*etcd_assets : nullptr;
  if (live && backup_assets) {
    report.Append(
        CheckAgreement(api_assets ? "api-server" : "etcd", *live, "backup", *backup_assets, false));
  }
  return report;
}

}  // namespace lifeboat::doctor
