// Test helper: a real etcd (Debian's /usr/bin/etcd) on free loopback ports in a temporary
// directory, optionally serving TLS with certificates made by openssl for the occasion, killed
// and cleaned up when the object dies. Also seeds it quickly (batched Txn over gRPC) and runs
// etcdctl against it.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace lifeboat::etcd::testing {

struct EtcdServerOptions {
  bool tls = false;              // https:// with a CA, server and client certificates
  bool client_cert_auth = true;  // with tls: require a client certificate signed by the CA
};

class EtcdServer {
 public:
  // Starts etcd and waits until it answers. FailedPrecondition when etcd is not installed.
  static absl::StatusOr<std::unique_ptr<EtcdServer>> Start(EtcdServerOptions options = {});
  ~EtcdServer();

  const std::string& endpoint() const { return endpoint_; }  // http(s)://127.0.0.1:<port>
  const std::string& dir() const { return dir_; }            // certificates, logs
  const std::string& data_dir() const { return data_dir_; }  // etcd's --data-dir
  std::string db_file() const { return data_dir_ + "/member/snap/db"; }
  // TLS material (empty without tls): the CA that signed everything, a client pair, and a
  // second CA that signed nothing this server trusts or presents.
  std::string ca_file() const { return tls_ ? dir_ + "/ca.crt" : ""; }
  std::string cert_file() const { return tls_ ? dir_ + "/client.crt" : ""; }
  std::string key_file() const { return tls_ ? dir_ + "/client.key" : ""; }
  std::string other_ca_file() const { return tls_ ? dir_ + "/other-ca.crt" : ""; }

  // `etcdctl <args>` against this server; stdout, or an error with etcdctl's stderr.
  absl::StatusOr<std::string> Etcdctl(const std::vector<std::string>& args);
  // Writes `kvs` in transactions of up to 1000 puts.
  absl::Status PutMany(const std::vector<std::pair<std::string, std::string>>& kvs);
  // Stops etcd (SIGTERM, then SIGKILL after 10 s). Idempotent.
  void Stop();

 private:
  EtcdServer() = default;
  absl::Status Launch();

  bool tls_ = false;
  bool client_cert_auth_ = true;
  std::string dir_, data_dir_, endpoint_;
  pid_t pid_ = -1;
};

// A free-looking random port in [20000, 60000) (the caller retries on a bind failure).
int RandomPort();

}  // namespace lifeboat::etcd::testing
