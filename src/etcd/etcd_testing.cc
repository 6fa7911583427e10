#include "etcd/etcd_testing.h"

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/status.h"
#include "etcd/rpc.grpc.pb.h"
#include "testing/process.h"

namespace lifeboat::etcd::testing {
namespace fs = std::filesystem;
using lifeboat::testing::ProcessResult;
using lifeboat::testing::RunProcess;

namespace {

constexpr const char* kEtcd = "/usr/bin/etcd";

std::string MakeTempDir(const std::string& parent) {
  std::string tmpl = parent + "/lifeboat-etcd-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) return "";
  return tmpl;
}

// Certificates as a cluster operator would have them: a CA, a server certificate for the
// loopback address, a client certificate; plus an unrelated CA for negative tests.
absl::Status MakeCertificates(const std::string& dir) {
  const std::string script = R"(
set -e
cd "$1"
key="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
openssl req -x509 $key -keyout ca.key -out ca.crt -subj /CN=lifeboat-test-ca -days 2
openssl req -x509 $key -keyout other-ca.key -out other-ca.crt -subj /CN=unrelated-ca -days 2
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' > server.ext
printf 'extendedKeyUsage=clientAuth\n' > client.ext
for n in server client; do
  openssl req -new $key -keyout $n.key -out $n.csr -subj /CN=lifeboat-test-$n
  openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out $n.crt -days 2 \
    -extfile $n.ext
done
)";
  ProcessResult r = RunProcess({"bash", "-c", script, "certs", dir});
  if (r.exit_code != 0) {
    return absl::InternalError(absl::StrCat("openssl failed making test certificates: ", r.err));
  }
  return absl::OkStatus();
}

std::string Tail(const std::string& s, size_t n = 3000) {
  return s.size() <= n ? s : s.substr(s.size() - n);
}

}  // namespace

int RandomPort() {
  static std::mt19937 rng(std::random_device{}());
  return std::uniform_int_distribution<int>(20000, 59999)(rng);
}

absl::StatusOr<std::unique_ptr<EtcdServer>> EtcdServer::Start(EtcdServerOptions options) {
  if (::access(kEtcd, X_OK) != 0) {
    return absl::FailedPreconditionError(
        "etcd is not installed (apt-get install etcd-server etcd-client)");
  }
  std::unique_ptr<EtcdServer> s(new EtcdServer());
  s->tls_ = options.tls;
  s->client_cert_auth_ = options.client_cert_auth;
  s->dir_ = MakeTempDir(fs::temp_directory_path().string());
  if (s->dir_.empty()) return absl::InternalError("mkdtemp failed");
  if (s->tls_) LB_RETURN_IF_ERROR(MakeCertificates(s->dir_));
  // tmpfs keeps etcd's fsyncs cheap when tests write 100 000 keys.
  std::error_code ec;
  bool shm = fs::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0;
  for (int attempt = 0;; ++attempt) {
    s->data_dir_ = shm ? MakeTempDir("/dev/shm") : s->dir_ + "/data";
    absl::Status st = s->Launch();
    if (st.ok()) return s;
    fs::remove_all(s->data_dir_, ec);
    if (attempt >= 6 || !absl::StrContains(st.message(), "address already in use")) return st;
  }
}

absl::Status EtcdServer::Launch() {
  const int client_port = RandomPort();
  int peer_port = RandomPort();
  while (peer_port == client_port) peer_port = RandomPort();
  endpoint_ = absl::StrCat(tls_ ? "https" : "http", "://127.0.0.1:", client_port);
  const std::string peer = absl::StrCat("http://127.0.0.1:", peer_port);
  std::vector<std::string> argv = {kEtcd,
                                   "--name=lifeboat-test",
                                   "--data-dir=" + data_dir_,
                                   "--listen-client-urls=" + endpoint_,
                                   "--advertise-client-urls=" + endpoint_,
                                   "--listen-peer-urls=" + peer,
                                   "--initial-advertise-peer-urls=" + peer,
                                   "--initial-cluster=lifeboat-test=" + peer,
                                   "--logger=zap",
                                   "--log-outputs=stderr",
                                   "--max-txn-ops=10000",
                                   "--max-request-bytes=10485760"};
  if (tls_) {
    argv.push_back("--cert-file=" + dir_ + "/server.crt");
    argv.push_back("--key-file=" + dir_ + "/server.key");
    // etcd turns client-certificate authentication on whenever it is given a trusted CA.
    if (client_cert_auth_) {
      argv.push_back("--trusted-ca-file=" + dir_ + "/ca.crt");
      argv.push_back("--client-cert-auth");
    }
  }
  const std::string log = dir_ + "/etcd.log";
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ < 0) return absl::InternalError("fork failed");
  if (pid_ == 0) {
    // Only async-signal-safe calls between fork and exec: the parent runs gRPC threads.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int null = ::open("/dev/null", O_RDONLY);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    if (null >= 0) ::dup2(null, 0);
    ::execv(kEtcd, args.data());
    ::_exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      auto text = base::ReadFile(log);
      return absl::InternalError(
          absl::StrCat("etcd exited at start: ", Tail(text.ok() ? *text : "")));
    }
    if (Etcdctl({"endpoint", "health", "--command-timeout=2s"}).ok()) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto text = base::ReadFile(log);
  Stop();
  return absl::DeadlineExceededError(
      absl::StrCat("etcd did not become healthy in 30 s: ", Tail(text.ok() ? *text : "")));
}

absl::StatusOr<std::string> EtcdServer::Etcdctl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"etcdctl", "--endpoints=" + endpoint_};
  if (tls_) {
    argv.push_back("--cacert=" + ca_file());
    argv.push_back("--cert=" + cert_file());
    argv.push_back("--key=" + key_file());
  }
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessResult r = RunProcess(argv, {{"ETCDCTL_API", "3"}});
  if (r.exit_code != 0) {
    return absl::InternalError(
        absl::StrCat("etcdctl ", args.empty() ? "" : args[0], " failed: ", r.err, r.out));
  }
  return r.out;
}

absl::Status EtcdServer::PutMany(const std::vector<std::pair<std::string, std::string>>& kvs) {
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (tls_) {
    grpc::SslCredentialsOptions o;
    LB_ASSIGN_OR_RETURN(o.pem_root_certs, base::ReadFile(ca_file()));
    LB_ASSIGN_OR_RETURN(o.pem_cert_chain, base::ReadFile(cert_file()));
    LB_ASSIGN_OR_RETURN(o.pem_private_key, base::ReadFile(key_file()));
    creds = grpc::SslCredentials(o);
  }
  std::string target = endpoint_.substr(endpoint_.find("://") + 3);
  auto stub = etcdserverpb::KV::NewStub(grpc::CreateChannel(target, creds));
  size_t i = 0;
  while (i < kvs.size()) {
    etcdserverpb::TxnRequest txn;
    size_t bytes = 0;
    for (; i < kvs.size() && txn.success_size() < 1000 && bytes < (4 << 20); ++i) {
      auto* put = txn.add_success()->mutable_request_put();
      put->set_key(kvs[i].first);
      put->set_value(kvs[i].second);
      bytes += kvs[i].first.size() + kvs[i].second.size();
    }
    etcdserverpb::TxnResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    grpc::Status st = stub->Txn(&ctx, txn, &resp);
    if (!st.ok()) return absl::InternalError("etcd Txn failed: " + st.error_message());
  }
  return absl::OkStatus();
}

void EtcdServer::Stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

EtcdServer::~EtcdServer() {
  Stop();
  if (std::getenv("LIFEBOAT_KEEP_ETCD") != nullptr) return;
  std::error_code ec;
  if (!data_dir_.empty()) fs::remove_all(data_dir_, ec);
  if (!dir_.empty()) fs::remove_all(dir_, ec);
}

}  // namespace lifeboat::etcd::testing
