// The real Kubernetes test bed (testbed/testbed.sh) from C++ tests: etcd with TLS, the real
// kube-apiserver, optionally controller manager, scheduler and nodes (hollow kubelets, or real
// ones: the kubelet over containerd + runc), all on free loopback ports in a temporary directory,
// torn down when the object dies.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "testing/process.h"

namespace lifeboat::testing {

// Every member has a default (`{}` where the type has one), so designated initializers
// ({.skip_hash_check = true}) leave the rest out without -Wmissing-field-initializers.
struct TestbedOptions {
  bool controllers = false;      // controller manager + scheduler
  int nodes = 0;                 // kubelet nodes node-1..node-N (hollow unless real_nodes)
  std::string encryption_config{};  // path of an EncryptionConfiguration for the API server
  std::string storage_media_type{};
  // More kube-apiserver flags, each "--flag=value" (testbed.sh up --apiserver-arg), e.g.
  // "--tls-min-version=VersionTLS13".
  std::vector<std::string> apiserver_args{};
  bool real_nodes = false;           // the kubelet over containerd + runc (testbed/realnode.sh)
  bool apiserver = true;             // false: etcd (and nodes, not waited for) only
  std::vector<std::string> images{};  // OCI image tarballs for real nodes (testbed/images.sh)
};

class Testbed {
 public:
  // Starts a test bed. FailedPrecondition (with the command to run) if the binaries are not built.
  static absl::StatusOr<std::unique_ptr<Testbed>> Start(const TestbedOptions& options);
  ~Testbed();

  // A key of the test bed's env file (KUBECONFIG, ETCD_ENDPOINTS, NODE_1_MANIFESTS, ...).
  std::string Env(const std::string& key) const;
  const std::string& dir() const { return dir_; }

  // `testbed.sh <verb> <dir> <args...>`, e.g. Script("stop", {"apiserver"}).
  absl::Status Script(const std::string& verb, const std::vector<std::string>& args = {});
  absl::Status LoadFixture() { return Script("load-fixture"); }
  // kubectl with the admin kubeconfig; returns stdout.
  absl::StatusOr<std::string> Kubectl(const std::vector<std::string>& args);
  // Pids of the processes running in node `i`'s cgroups (a real node's containers) whose
  // command name (/proc/PID/comm) is `comm`.
  std::vector<int> NodeProcesses(int i, const std::string& comm) const;

 private:
  Testbed() = default;
  std::string dir_;
  std::map<std::string, std::string> env_;
};

// The repository's testbed/testbed.sh.
std::string TestbedScript();

// `testbed/images.sh <args...>`: builds (or finds cached) an OCI image tarball; returns its path.
absl::StatusOr<std::string> TestbedImage(const std::vector<std::string>& args);

}  // namespace lifeboat::testing
