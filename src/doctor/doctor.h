// `lifeboat doctor`: would Lifeboat bring this cluster's control plane back if it died now?
// The shell that gathers what the pure checks (checks.h) need — the API server's pods and the
// control plane's objects, optionally a live etcd and backup files read as `recover` reads them,
// optionally this node's checkpoint directories — and runs them. Read only: nothing is written
// (the CLI writes the --metrics-file, and only when asked).
#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "checkpoint/sanitize.h"
#include "doctor/checks.h"
#include "doctor/report.h"

namespace lifeboat::doctor {

struct Options {
  std::string kubeconfig;  // "" = $KUBECONFIG or ~/.kube/config, as kubectl
  std::string ns = "kube-system";

  // etcd, with `recover`'s flags: a live cluster and/or backup files.
  std::string etcd_servers;
  std::string etcd_ca;
  std::string etcd_cert;
  std::string etcd_key;
  std::string etcd_prefix = "/registry";
  std::string encryption_config;
  std::vector<std::string> snapshots;
  bool skip_hash_check = false;

  // This node's checkpoints: checked when `check_node`.
  bool check_node = false;
  std::string node_name;
  checkpoint::Layout layout;
  Selector checkpointers;

  absl::Duration certificate_window = absl::Hours(24 * 30);
  absl::Duration backup_max_age = absl::Hours(25);
};

// Runs every check that the options make possible. Never fails: a source that cannot be read is
// a finding (the question is whether recovery would work, and "cannot read etcd" is an answer).
Report RunDoctor(const Options& options, absl::Time now);

}  // namespace lifeboat::doctor
