// Test helpers for HTTP(S) clients: certificates made with the openssl CLI, and httplib servers
// on free loopback ports.
#pragma once

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>

#include "testing/process.h"

namespace lifeboat::testing {

// Keys and certificates made by `script` (sh, the openssl CLI) in a temporary directory, removed
// again when destroyed. ok() says whether the script succeeded.
class Pki {
 public:
  explicit Pki(const std::string& script) {
    char tmpl[] = "/tmp/lifeboat-pki-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    auto r = RunProcess({"sh", "-c", "cd " + dir_ + " && { " + script + "\n} >/dev/null 2>&1"});
    ok_ = r.exit_code == 0;
  }
  ~Pki() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  bool ok() const { return ok_; }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  std::string Read(const std::string& name) const {
    std::ifstream in(Path(name));
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  std::string dir_;
  bool ok_ = false;
};

// Runs an httplib server (Server or SSLServer) on a free loopback port in a thread.
template <typename Server>
class Running {
 public:
  explicit Running(std::unique_ptr<Server> s, const char* host = "127.0.0.1")
      : server_(std::move(s)) {
    port_ = server_->bind_to_any_port(host);
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ~Running() {
    server_->stop();
    thread_.join();
  }
  int port() const { return port_; }
  Server& server() { return *server_; }

 private:
  std::unique_ptr<Server> server_;
  int port_;
  std::thread thread_;
};

}  // namespace lifeboat::testing
