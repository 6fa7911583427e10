// The checks of `lifeboat doctor`: would a recovery work if the control plane died now? Each
// check is a pure function of data the shell (doctor.h) gathered — pod lists, objects, files
// read from disk, times — returning findings; none does I/O, reads a clock or logs, so each is
// tested table-driven (checks_test.cc).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "checkpoint/sanitize.h"
#include "doctor/report.h"
#include "kube/codec.h"
#include "recovery/render.h"

namespace lifeboat::doctor {

// ---- Checkpointer coverage -------------------------------------------------------------------

// Which pods are checkpointers: label `key` = `value` (bootkube's `k8s-app: pod-checkpointer`).
struct Selector {
  std::string key = "k8s-app";
  std::string value = "pod-checkpointer";
  bool Matches(const Json& pod) const;
};

// `pods`: the items of the control-plane namespace's pod list (with status). Every node that
// runs an annotated parent (checkpoint::IsParent) must run a checkpointer pod that is Running
// and Ready; one finding per such node, and a warning when nothing is annotated at all.
std::vector<Finding> CheckCoverage(const Json& pods, const Selector& checkpointers);

// ---- Checkpoint freshness (on a node) --------------------------------------------------------

// A file or directory under the checkpoint dirs, as the shell read it.
struct DiskEntry {
  bool dir = false;
  unsigned mode = 0;  // permission bits
  std::string data;   // files only
};
using DiskTree = std::map<std::string, DiskEntry>;  // by absolute path

// Parents of this node's pods in the list (spec.nodeName == node), by id.
std::vector<const Json*> ParentsOnNode(const Json& pods, const std::string& node);

// For each parent scheduled on this node: its inactive checkpoint exists, is a valid static pod,
// and is what the checkpointer would write for the parent now (checkpoint::MakeCheckpoint with
// `lookup`'s Secrets/ConfigMaps: the same images, commands, flags and file contents); its
// manifest and Secret files are not readable by group/others and its directories are 0700.
std::vector<Finding> CheckCheckpoints(const std::string& node,
                                      const std::vector<const Json*>& parents,
                                      const kube::ObjectLookup& lookup,
                                      const checkpoint::Layout& layout, const DiskTree& disk);

// The first place two JSON values differ, as a path ("spec.containers[0].image"), or "" when equal.
std::string FirstDifference(const Json& want, const Json& have, const std::string& path = "");

// ---- Recover dry run -------------------------------------------------------------------------

// What one source (API server, etcd, a backup file) gave when read as `recover` reads it.
struct SourceRead {
  std::string name;         // "api-server", "etcd", "backup"
  std::string description;  // "the API server at https://...", "snapshot /backups/x.db"
  absl::Status status;      // the read as a whole (connection, listing)
  recovery::ClusterObjects objects;
  // Secrets/ConfigMaps that exist but could not be read: "Secret/name" -> why (a value no
  // configured key decrypts, an undecodable value).
  std::map<std::string, std::string> unreadable;
  // Warnings from decoding: fields the schema does not know, by object ("Secret/name").
  std::map<std::string, std::vector<std::string>> decode_warnings;
};

// The result of rendering: files `recover` would write (nothing is written).
struct DryRun {
  std::optional<recovery::AssetSet> assets;
};

// Renders what `recover` would from `read` (recovery::Render, no writer) and reports missing or
// unreadable referenced objects, unknown fields and render failures. `kubeconfig` is what would
// go to auth/kubeconfig.
std::vector<Finding> CheckDryRun(const SourceRead& read, const std::string& kubeconfig,
                                 DryRun* out);

// Whether two renderings agree file for file. `strict`: a difference is a failure (API server vs
// live etcd, which must be the same cluster); otherwise a warning (a backup is older by nature).
std::vector<Finding> CheckAgreement(const std::string& a_name, const recovery::AssetSet& a,
                                    const std::string& b_name, const recovery::AssetSet& b,
                                    bool strict);

// ---- Backup ----------------------------------------------------------------------------------

struct BackupFile {
  std::string path;
  absl::Time modified;
  absl::Status open;  // opening and verifying it (etcd::SnapshotReader::Open)
  bool has_trailer = false;
  bool hash_checked = false;  // false with --skip-hash-check
  int64_t revision = 0;
};

// Each file opens and verifies; the newest is younger than `max_age`; its revision is not
// beyond the live etcd's (`live_revision`, when etcd was read). Adds backup_age_seconds.
std::vector<Finding> CheckBackups(const std::vector<BackupFile>& files, absl::Time now,
                                  absl::Duration max_age, std::optional<int64_t> live_revision,
                                  std::vector<Gauge>* gauges);

// ---- Certificates ----------------------------------------------------------------------------

// PEM text that may hold certificates, and where it came from ("Secret kube-system/x: tls.crt").
struct PemSource {
  std::string where;
  std::string pem;
};

// Certificates in the data of the recovered Secrets and ConfigMaps (values that contain a PEM
// CERTIFICATE block).
std::vector<PemSource> CertificatesIn(const recovery::ClusterObjects& objects,
                                      const std::string& ns);

// Each certificate is valid now and for longer than `window`: expired or not yet valid fails, a
// certificate expiring within the window warns, one that does not parse warns. One finding per
// problem and one summary; adds certificate_expiry_timestamp_seconds per certificate.
std::vector<Finding> CheckCertificates(const std::vector<PemSource>& sources, absl::Time now,
                                       absl::Duration window, std::vector<Gauge>* gauges);

}  // namespace lifeboat::doctor
