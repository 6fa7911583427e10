#include "doctor/checks.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <ctime>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "checkpoint/pod.h"
#include "kube/static_pod.h"

namespace lifeboat::doctor {

namespace {


std::string Str(const Json& obj, const char* key) {
  const Json& v = kube::Member(obj, key);
  return v.is_string() ? v.get<std::string>() : "";
}

std::string NameOf(const Json& pod) { return Str(kube::Member(pod, "metadata"), "name"); }

// Running, Ready, and not being deleted.
bool Healthy(const Json& pod, std::string* why) {
  if (!kube::Member(kube::Member(pod, "metadata"), "deletionTimestamp").is_null()) {
    *why = "is being deleted";
    return false;
  }
  std::string phase = Str(kube::Member(pod, "status"), "phase");
  if (phase != "Running") {
    *why = absl::StrCat("is ", phase.empty() ? "in no phase" : phase, ", not Running");
    return false;
  }
  const Json& conds = kube::Member(kube::Member(pod, "status"), "conditions");
  if (conds.is_array()) {
    for (const auto& c : conds) {
      if (Str(c, "type") == "Ready") {
        if (Str(c, "status") == "True") return true;
        *why = absl::StrCat("is Running but not Ready",
                            Str(c, "reason").empty() ? "" : " (" + Str(c, "reason") + ")");
        return false;
      }
    }
  }
  *why = "is Running but reports no Ready condition";
  return false;
}

// At most `n` items, then "(+k more)".
std::string JoinSome(const std::vector<std::string>& items, size_t n = 5) {
  std::vector<std::string> head(items.begin(), items.begin() + std::min(n, items.size()));
  std::string out = absl::StrJoin(head, ", ");
  if (items.size() > n) absl::StrAppend(&out, " (+", items.size() - n, " more)");
  return out;
}

std::string Date(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M UTC", t, absl::UTCTimeZone());
}

std::string Days(absl::Duration d) {
  int64_t days = absl::ToInt64Hours(d) / 24;
  if (days >= 2) return absl::StrCat(days, " days");
  if (d >= absl::Hours(2)) return absl::StrCat(absl::ToInt64Hours(d), " hours");
  return absl::StrCat(absl::ToInt64Minutes(d), " minutes");
}

}  // namespace

// ---- Coverage ----------------------------------------------------------------------------------

bool Selector::Matches(const Json& pod) const {
  const Json& labels = kube::Member(kube::Member(pod, "metadata"), "labels");
  return Str(labels, key.c_str()) == value && !key.empty();
}

std::vector<Finding> CheckCoverage(const Json& pods, const Selector& checkpointers) {
  std::map<std::string, std::vector<std::string>> parents;            // node -> parent pods
  std::map<std::string, std::vector<const Json*>> checkpointer_pods;  // node -> checkpointer pods
  const Json& items = pods.is_array() ? pods : kube::Member(pods, "items");
  bool any_parent = false;
  for (const auto& pod : items) {
    std::string node = Str(kube::Member(pod, "spec"), "nodeName");
    std::string phase = Str(kube::Member(pod, "status"), "phase");
    if (phase == "Succeeded" || phase == "Failed") continue;
    // A checkpoint's mirror pod (checkpoint-of) is neither a parent nor a real checkpointer: a
    // checkpointer running from its own checkpoint with no DaemonSet pod removes its checkpoints.
    if (checkpoint::CheckpointOf(pod).has_value()) continue;
    if (checkpointers.Matches(pod)) {
      if (!node.empty()) checkpointer_pods[node].push_back(&pod);
      continue;
    }
    if (!checkpoint::IsParent(pod)) continue;
    any_parent = true;
    parents[node].push_back(checkpoint::IdOf(pod).String());
  }
  std::vector<Finding> out;
  if (!any_parent) {
    out.push_back(
        {"coverage", "cluster", Level::kWarn,
         absl::StrCat("no running pod carries ", checkpoint::kCheckpointAnnotation,
                      "=\"true\": nothing is checkpointed, so a control-plane node that reboots "
                      "while no API server answers cannot bring its control plane back"),
         "annotate the pod templates of the API server (and the checkpointer) DaemonSets"});
    return out;
  }
  std::string selector = absl::StrCat(checkpointers.key, "=", checkpointers.value);
  for (const auto& [node, names] : parents) {
    std::string runs = JoinSome(names);
    if (node.empty()) {
      out.push_back({"coverage", "(unscheduled)", Level::kWarn,
                     absl::StrCat("annotated pod(s) ", runs, " not scheduled on any node"),
                     "see why they are Pending: kubectl -n <ns> describe pod <name>"});
      continue;
    }
    auto it = checkpointer_pods.find(node);
    if (it == checkpointer_pods.end()) {
      out.push_back(
          {"coverage", node, Level::kFail,
           absl::StrCat("runs annotated ", runs, " but no checkpointer pod (", selector,
                        "): its control plane is not checkpointed"),
           "make the checkpointer DaemonSet's nodeSelector and tolerations cover this node "
           "(kubectl -n kube-system get ds -l " +
               selector + " -o wide)"});
      continue;
    }
    std::string healthy, why_not;
    std::vector<std::string> problems;
    for (const Json* p : it->second) {
      std::string why;
      if (Healthy(*p, &why)) {
        healthy = NameOf(*p);
        break;
      }
      problems.push_back(absl::StrCat("checkpointer ", NameOf(*p), " ", why));
    }
    if (!healthy.empty()) {
      out.push_back(
          {"coverage", node, Level::kOk,
           absl::StrCat("runs ", runs, "; checkpointer ", healthy, " is Running and Ready"), ""});
    } else {
      out.push_back({"coverage", node, Level::kFail,
                     absl::StrCat("runs annotated ", runs, " but ", absl::StrJoin(problems, "; ")),
                     absl::StrCat("kubectl -n kube-system describe pod ",
                                  NameOf(*it->second.front()), " and read its logs")});
    }
  }
  return out;
}

// ---- Checkpoint freshness -----------------------------------------------------------------------

std::vector<const Json*> ParentsOnNode(const Json& pods, const std::string& node) {
  std::vector<const Json*> out;
  const Json& items = pods.is_array() ? pods : kube::Member(pods, "items");
  for (const auto& pod : items) {
    std::string phase = Str(kube::Member(pod, "status"), "phase");
    if (phase == "Succeeded" || phase == "Failed") continue;
    if (Str(kube::Member(pod, "spec"), "nodeName") == node && checkpoint::IsParent(pod))
      out.push_back(&pod);
  }
  return out;
}

std::string FirstDifference(const Json& want, const Json& have, const std::string& path) {
  if (want.type() != have.type()) return path.empty() ? "(the whole object)" : path;
  if (want.is_object()) {
    std::set<std::string> keys;
    for (auto it = want.begin(); it != want.end(); ++it) keys.insert(it.key());
    for (auto it = have.begin(); it != have.end(); ++it) keys.insert(it.key());
    for (const auto& k : keys) {
      std::string sub = path.empty() ? k : absl::StrCat(path, ".", k);
      if (!want.contains(k) || !have.contains(k)) return sub;
      std::string d = FirstDifference(want[k], have[k], sub);
      if (!d.empty()) return d;
    }
    return "";
  }
  if (want.is_array()) {
    for (size_t i = 0; i < std::min(want.size(), have.size()); ++i) {
      std::string d = FirstDifference(want[i], have[i], absl::StrCat(path, "[", i, "]"));
      if (!d.empty()) return d;
    }
    if (want.size() != have.size())
      return absl::StrCat(path, " (", have.size(), " items, want ", want.size(), ")");
    return "";
  }
  return want == have ? "" : (path.empty() ? "(the whole object)" : path);
}

namespace {

// Differences of images between the parent's containers and the checkpoint's, by container name.
void CompareImages(const Json& want_spec, const Json& have_spec,
                   std::vector<std::string>& problems) {
  for (const char* list : {"initContainers", "containers"}) {
    const Json& want = kube::Member(want_spec, list);
    const Json& have = kube::Member(have_spec, list);
    if (!want.is_array()) continue;
    for (const auto& c : want) {
      std::string name = Str(c, "name");
      const Json* found = nullptr;
      if (have.is_array()) {
        for (const auto& h : have) {
          if (Str(h, "name") == name) found = &h;
        }
      }
      if (found == nullptr) {
        problems.push_back(absl::StrCat("container ", name, " is missing from the checkpoint"));
      } else if (Str(*found, "image") != Str(c, "image")) {
        problems.push_back(absl::StrCat("container ", name, " runs image ", Str(c, "image"),
                                        " but the checkpoint has ", Str(*found, "image")));
      }
    }
  }
}

// "Secret etcd-client" / "ConfigMap x" / "projected volume y" for a file of a checkpoint.
std::string OwnerOfFile(const std::string& path, const checkpoint::Layout& layout,
                        const checkpoint::PodId& id) {
  std::string secrets = layout.SecretsDir(id).string() + "/";
  std::string configmaps = layout.ConfigMapsDir(id).string() + "/";
  auto first = [](absl::string_view rest) { return std::string(rest.substr(0, rest.find('/'))); };
  if (absl::StartsWith(path, secrets)) {
    absl::string_view rest = absl::string_view(path).substr(secrets.size());
    if (absl::StartsWith(rest, std::string(checkpoint::kProjectedDir) + "/")) {
      return "projected volume " +
             first(rest.substr(std::string(checkpoint::kProjectedDir).size() + 1));
    }
    return "Secret " + first(rest);
  }
  if (absl::StartsWith(path, configmaps))
    return "ConfigMap " + first(absl::string_view(path).substr(configmaps.size()));
  return path;
}

}  // namespace

std::vector<Finding> CheckCheckpoints(const std::string& node,
                                      const std::vector<const Json*>& parents,
                                      const kube::ObjectLookup& lookup,
                                      const checkpoint::Layout& layout, const DiskTree& disk) {
  std::vector<Finding> out;
  if (parents.empty()) {
    out.push_back({"checkpoint", node, Level::kWarn,
                   absl::StrCat("no annotated control-plane pod is scheduled on node ", node,
                                ": nothing to check here"),
                   "run doctor on a control-plane node, or pass --node-name"});
    return out;
  }
  for (const Json* parent : parents) {
    checkpoint::PodId id = checkpoint::IdOf(*parent);
    std::string manifest = layout.InactiveManifest(id).string();
    auto entry = disk.find(manifest);
    if (entry == disk.end() || entry->second.dir) {
      out.push_back(
          {"checkpoint", id.String(), Level::kFail,
           absl::StrCat(
               "no inactive checkpoint at ", manifest,
               ": if this node reboots while no API server answers, the pod does not come back"),
           "read the checkpointer's log on this node (is it running with these directories?)"});
      continue;
    }
    std::vector<std::string> problems;
    auto have = kube::ParseJson(entry->second.data);
    if (!have.ok() || !have->is_object()) {
      out.push_back({"checkpoint", id.String(), Level::kFail,
                     absl::StrCat(manifest, " is not a valid static pod (not JSON)"),
                     "delete it; the checkpointer writes a new one on its next tick"});
      continue;
    }
    const Json& annotations = kube::Member(kube::Member(*have, "metadata"), "annotations");
    if (checkpoint::IdOf(*have) != id ||
        Str(annotations, std::string(checkpoint::kCheckpointOfAnnotation).c_str()) != id.name) {
      problems.push_back(
          absl::StrCat("the manifest does not say it is the checkpoint of ", id.name));
    }
    std::vector<std::string> refs = kube::ApiObjectReferences(kube::Member(*have, "spec"));
    if (!refs.empty()) {
      problems.push_back(absl::StrCat("not a valid static pod: ", absl::StrJoin(refs, "; ")));
    }
    if ((entry->second.mode & 077) != 0) {
      problems.push_back(absl::StrFormat("%s is mode %04o, readable beyond its owner (want 0600)",
                                         manifest, entry->second.mode));
    }
    // An active copy (the kubelet runs it) must be the checkpoint too: the checkpointer refreshes
    // it with the inactive one.
    auto active = disk.find(layout.ActiveManifest(id).string());
    if (active != disk.end() && !active->second.dir) {
      if (active->second.data != entry->second.data) {
        problems.push_back(absl::StrCat("the active copy ", active->first,
                                        " differs from the inactive checkpoint"));
      }
      if ((active->second.mode & 077) != 0) {
        problems.push_back(absl::StrFormat("%s is mode %04o, readable beyond its owner (want 0600)",
                                           active->first, active->second.mode));
      }
    }
    // Secrets on disk: files for the owner only, directories 0700.
    std::string secrets_dir = layout.SecretsDir(id).string();
    for (auto it = disk.lower_bound(secrets_dir);
         it != disk.end() && absl::StartsWith(it->first, secrets_dir); ++it) {
      if (it->first.size() > secrets_dir.size() && it->first[secrets_dir.size()] != '/') continue;
      bool bad = it->second.dir ? it->second.mode != 0700 : (it->second.mode & 077) != 0;
      if (bad) {
        problems.push_back(absl::StrFormat("%s is mode %04o (want %s)", it->first, it->second.mode,
                                           it->second.dir ? "0700" : "0600 or stricter"));
      }
    }
    auto want = checkpoint::MakeCheckpoint(*parent, lookup, layout);
    Level level = problems.empty() ? Level::kOk : Level::kFail;
    if (!want.ok()) {
      problems.push_back(
          absl::StrCat("cannot tell whether it is current: the checkpointer cannot checkpoint the "
                       "pod as it is now (",
                       want.status().message(), "); it keeps the last good checkpoint"));
      if (level == Level::kOk) level = Level::kWarn;
    } else {
      std::vector<std::string> stale;
      CompareImages(kube::Member(want->pod, "spec"), kube::Member(*have, "spec"), stale);
      if (stale.empty()) {
        std::string diff = FirstDifference(want->pod, *have);
        if (!diff.empty())
          stale.push_back(
              absl::StrCat("the pod spec changed since the checkpoint (first at ", diff, ")"));
      }
      std::set<std::string> changed;
      for (const auto& f : want->files) {
        auto d = disk.find(f.path);
        if (d == disk.end()) {
          changed.insert(absl::StrCat(OwnerOfFile(f.path, layout, id), " (", f.path, " missing)"));
        } else if (d->second.data != f.data) {
          changed.insert(absl::StrCat(OwnerOfFile(f.path, layout, id), " (", f.path, ")"));
        }
      }
      if (!changed.empty()) {
        stale.push_back(
            absl::StrCat("changed since the checkpoint: ",
                         JoinSome(std::vector<std::string>(changed.begin(), changed.end()), 3)));
      }
      if (!stale.empty()) {
        level = Level::kFail;
        problems.insert(problems.end(), stale.begin(), stale.end());
      }
    }
    if (problems.empty()) {
      out.push_back({"checkpoint", id.String(), Level::kOk,
                     absl::StrCat("inactive checkpoint matches the running pod (",
                                  want->files.size(), " secret/configmap files)"),
                     ""});
    } else {
      out.push_back({"checkpoint", id.String(), level,
                     absl::StrCat("checkpoint ", manifest, ": ", JoinSome(problems, 3)),
                     level == Level::kFail ? "the checkpointer on this node is not keeping it "
                                             "current: read its log and /metrics"
                                           : "fix what keeps the pod from being checkpointed"});
    }
  }
  return out;
}

// ---- Recover dry run ----------------------------------------------------------------------------

std::vector<Finding> CheckDryRun(const SourceRead& read, const std::string& kubeconfig,
                                 DryRun* out) {
  std::vector<Finding> findings;
  const std::string subject = read.name;
  if (!read.status.ok()) {
    findings.push_back(
        {"dry-run", subject, Level::kFail,
         absl::StrCat("recover could not read ", read.description, ": ", read.status.message()),
         "make the source readable (flags, credentials, reachability) before you need it"});
    return findings;
  }
  for (const auto& [object, why] : read.unreadable) {
    findings.push_back(
        {"dry-run", subject, Level::kFail, absl::StrCat(object, " cannot be read: ", why),
         "check --encryption-provider-config holds the API server's current keys (a backup "
         "encrypted with a key nobody kept cannot be recovered)"});
  }
  for (const auto& [object, warnings] : read.decode_warnings) {
    findings.push_back(
        {"dry-run", subject, Level::kWarn,
         absl::StrCat(object, ": fields Lifeboat's schema does not know: ", JoinSome(warnings, 3)),
         "a newer Kubernetes wrote it; check the rendering with `lifeboat recover`"});
  }
  auto assets = recovery::Render(read.objects, kubeconfig);
  if (!assets.ok()) {
    bool missing = absl::IsNotFound(assets.status());
    findings.push_back(
        {"dry-run", subject, Level::kFail,
         absl::StrCat("recover from ", read.description,
                      " would fail: ", assets.status().message()),
         missing ? "recreate the missing objects now (from your manifests or a backup)"
                 : "make sure the control plane's DaemonSets/Deployments exist and carry "
                   "k8s-app=kube-apiserver|kube-controller-manager|kube-scheduler"});
    return findings;
  }
  std::vector<std::string> pods;
  for (const auto& [rel, file] : assets->files) {
    if (absl::StartsWith(rel, "bootstrap-manifests/")) pods.push_back(rel.substr(20));
  }
  if (findings.empty()) {
    findings.push_back({"dry-run", subject, Level::kOk,
                        absl::StrCat("recover from ", read.description, " would render ",
                                     pods.size(), " bootstrap pod(s) (", absl::StrJoin(pods, ", "),
                                     ") and ", assets->files.size(), " files in all"),
                        ""});
  }
  if (out != nullptr) out->assets = *std::move(assets);
  return findings;
}

std::vector<Finding> CheckAgreement(const std::string& a_name, const recovery::AssetSet& a,
                                    const std::string& b_name, const recovery::AssetSet& b,
                                    bool strict) {
  std::vector<std::string> differ;
  for (const auto& [rel, file] : a.files) {
    auto it = b.files.find(rel);
    if (it == b.files.end()) {
      differ.push_back(absl::StrCat(rel, " (only from ", a_name, ")"));
    } else if (it->second.data != file.data || it->second.mode != file.mode) {
      differ.push_back(rel);
    }
  }
  for (const auto& [rel, file] : b.files) {
    if (!a.files.count(rel)) differ.push_back(absl::StrCat(rel, " (only from ", b_name, ")"));
  }
  std::string subject = absl::StrCat(a_name, " vs ", b_name);
  if (differ.empty()) {
    return {{"agreement", subject, Level::kOk,
             absl::StrCat("both render the same ", a.files.size(), " files"), ""}};
  }
  return {{"agreement", subject, strict ? Level::kFail : Level::kWarn,
           absl::StrCat("the renderings differ in ", JoinSome(differ)),
           strict ? "check that --etcd-servers and --etcd-prefix are this cluster's etcd and prefix"
                  : "the backup predates changes to the control plane: take a new one"}};
}

// ---- Backup -------------------------------------------------------------------------------------

std::vector<Finding> CheckBackups(const std::vector<BackupFile>& files, absl::Time now,
                                  absl::Duration max_age, std::optional<int64_t> live_revision,
                                  std::vector<Gauge>* gauges) {
  std::vector<Finding> out;
  std::vector<const BackupFile*> sorted;
  for (const auto& f : files) sorted.push_back(&f);
  std::stable_sort(sorted.begin(), sorted.end(), [](const BackupFile* a, const BackupFile* b) {
    return a->modified > b->modified;
  });
  bool newest = true;
  for (const BackupFile* f : sorted) {
    absl::Duration age = now - f->modified;
    if (gauges != nullptr) {
      gauges->push_back({"backup_age_seconds",
                         "Age of each backup file given (from its modification time).",
                         {{"path", f->path}},
                         absl::ToDoubleSeconds(age)});
    }
    if (!f->open.ok()) {
      out.push_back({"backup", f->path, Level::kFail,
                     absl::StrCat("cannot be recovered from: ", f->open.message()),
                     "take a new backup (etcdctl snapshot save) and check how backups are copied "
                     "and stored"});
      newest = false;
      continue;
    }
    Level level = Level::kOk;
    std::vector<std::string> parts;
    std::string action;
    if (f->has_trailer && f->hash_checked) {
      parts.push_back("SHA-256 trailer verified");
    } else if (f->has_trailer) {
      parts.push_back("SHA-256 trailer not verified (--skip-hash-check)");
      level = Level::kWarn;
      action = "run without --skip-hash-check to verify it";
    } else {
      parts.push_back(
          "no SHA-256 trailer (a copied member/snap/db?): its integrity cannot be verified");
      level = Level::kWarn;
      action = "keep backups made by `etcdctl snapshot save`, which carry the trailer";
    }
    if (live_revision.has_value()) {
      if (f->revision > *live_revision) {
        parts.push_back(absl::StrCat("revision ", f->revision, " is ahead of the live etcd's ",
                                     *live_revision,
                                     ": a backup of another cluster, or etcd was restored since"));
        level = Level::kWarn;
        action = "check that the backup job backs up this cluster";
      } else {
        parts.push_back(absl::StrCat("revision ", f->revision, ", ", *live_revision - f->revision,
                                     " behind the live etcd"));
      }
    } else {
      parts.push_back(absl::StrCat("revision ", f->revision));
    }
    if (newest) {
      parts.insert(parts.begin(), absl::StrCat("newest backup, ", Days(age), " old"));
      if (age > max_age) {
        parts.front() += absl::StrCat(" (older than ", Days(max_age), ")");
        level = Level::kWarn;
        action = "check the backup job: the newest backup should be younger than --backup-max-age";
      }
    }
    out.push_back({"backup", f->path, level, absl::StrJoin(parts, "; "), action});
    newest = false;
  }
  return out;
}

// ---- Certificates -------------------------------------------------------------------------------

namespace {

constexpr char kBeginCert[] = "-----BEGIN CERTIFICATE-----";

struct Cert {
  std::string subject;
  absl::Time not_before;
  absl::Time not_after;
};

absl::Time FromAsn1(const ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return absl::InfinitePast();
  return absl::FromTimeT(timegm(&tm));
}

// Parses every CERTIFICATE block of `pem`; `bad` counts blocks that do not parse.
std::vector<Cert> ParseCerts(const std::string& pem, int* bad) {
  std::vector<Cert> out;
  int blocks = 0;
  for (size_t at = pem.find(kBeginCert); at != std::string::npos; at = pem.find(kBeginCert, at + 1))
    ++blocks;
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) {
    *bad = blocks;
    return out;
  }
  for (;;) {
    X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    if (x == nullptr) break;
    Cert c;
    char buf[512];
    X509_NAME_oneline(X509_get_subject_name(x), buf, sizeof buf);
    c.subject = buf;
    c.not_before = FromAsn1(X509_get0_notBefore(x));
    c.not_after = FromAsn1(X509_get0_notAfter(x));
    out.push_back(std::move(c));
    X509_free(x);
  }
  BIO_free(bio);
  // The reader stops at the first block it cannot parse (and leaves an error on the queue).
  while (ERR_get_error() != 0) {
  }
  *bad = blocks - static_cast<int>(out.size());
  return out;
}

}  // namespace

std::vector<PemSource> CertificatesIn(const recovery::ClusterObjects& objects,
                                      const std::string& ns) {
  std::vector<PemSource> out;
  for (const auto& [name, secret] : objects.secrets) {
    const Json& data = kube::Member(secret, "data");
    if (!data.is_object()) continue;
    for (auto it = data.begin(); it != data.end(); ++it) {
      std::string decoded;
      if (!it.value().is_string() || !absl::Base64Unescape(it.value().get<std::string>(), &decoded))
        continue;
      if (absl::StrContains(decoded, kBeginCert)) {
        out.push_back({absl::StrCat("Secret ", ns, "/", name, ": ", it.key()), std::move(decoded)});
      }
    }
  }
  for (const auto& [name, cm] : objects.config_maps) {
    const Json& data = kube::Member(cm, "data");
    if (!data.is_object()) continue;
    for (auto it = data.begin(); it != data.end(); ++it) {
      if (it.value().is_string() && absl::StrContains(it.value().get<std::string>(), kBeginCert)) {
        out.push_back({absl::StrCat("ConfigMap ", ns, "/", name, ": ", it.key()),
                       it.value().get<std::string>()});
      }
    }
  }
  return out;
}

std::vector<Finding> CheckCertificates(const std::vector<PemSource>& sources, absl::Time now,
                                       absl::Duration window, std::vector<Gauge>* gauges) {
  std::vector<Finding> out;
  int total = 0;
  std::string first_where;
  absl::Time first_expiry = absl::InfiniteFuture();
  for (const auto& s : sources) {
    int bad = 0;
    std::vector<Cert> certs = ParseCerts(s.pem, &bad);
    if (bad > 0) {
      out.push_back(
          {"certificates", s.where, Level::kWarn,
           absl::StrCat(bad, " CERTIFICATE block(s) that are not valid X.509"),
           "replace it with the real certificate: the component using it would not start"});
    }
    for (size_t i = 0; i < certs.size(); ++i) {
      const Cert& c = certs[i];
      ++total;
      std::string where = certs.size() > 1 ? absl::StrCat(s.where, " [", i, "]") : s.where;
      if (gauges != nullptr) {
        gauges->push_back({"certificate_expiry_timestamp_seconds",
                           "notAfter of each certificate a recovery depends on (Unix time).",
                           {{"where", where}, {"subject", c.subject}},
                           static_cast<double>(absl::ToUnixSeconds(c.not_after))});
      }
      if (c.not_after < first_expiry) {
        first_expiry = c.not_after;
        first_where = where;
      }
      if (c.not_after <= now) {
        out.push_back(
            {"certificates", where, Level::kFail,
             absl::StrCat(c.subject, " expired on ", Date(c.not_after)),
             "renew it and update its Secret/kubeconfig: a recovered control plane would use it"});
      } else if (c.not_before > now) {
        out.push_back({"certificates", where, Level::kWarn,
                       absl::StrCat(c.subject, " is not valid before ", Date(c.not_before)),
                       "check the clock of the machine that issued it"});
      } else if (c.not_after - now < window) {
        out.push_back(
            {"certificates", where, Level::kWarn,
             absl::StrCat(c.subject, " expires on ", Date(c.not_after), ", in ",
                          Days(c.not_after - now), " (inside the ", Days(window), " window)"),
             "renew it now, and update its Secret/kubeconfig"});
      }
    }
  }
  bool problems = !out.empty();
  if (total == 0 && !problems) {
    out.push_back({"certificates", "all", Level::kOk,
                   "no certificate found in the recovered objects or kubeconfig", ""});
  } else if (!problems) {
    out.push_back({"certificates", "all", Level::kOk,
                   absl::StrCat(total, " certificate(s) valid for more than ", Days(window),
                                "; the first to expire: ", first_where, " on ", Date(first_expiry)),
                   ""});
  }
  return out;
}

}  // namespace lifeboat::doctor
