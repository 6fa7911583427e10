// Fake TCP servers on free loopback ports for clients' tests, where an HTTP library will not
// misbehave on purpose: one that answers each request head with the test's bytes, one that
// accepts connections and never answers.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace lifeboat::testing {

// A TCP server that answers each request head with whatever the test says, byte for byte, and
// counts connections: for framing, keep-alive and misbehaving servers that httplib will not
// imitate.
class RawServer {
 public:
  struct Reply {
    std::string bytes;   // empty: no response
    bool close = false;  // close the connection afterwards
  };
  // (request head, connection number from 1, request number on that connection from 1)
  using Handler = std::function<Reply(const std::string&, int, int)>;

  explicit RawServer(Handler handler);
  ~RawServer();
  int port() const { return port_; }
  int connections() const { return connections_; }
  std::string url(const std::string& path = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  bool WaitReadable(int fd);
  void Loop();

  Handler handler_;
  int listen_fd_;
  int port_;
  std::atomic<int> connections_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A socket that accepts TCP connections (the kernel completes them) but never says a word:
// a hung server. Closed when the object dies.
class SilentServer {
 public:
  SilentServer();
  ~SilentServer();
  int port() const { return port_; }

 private:
  int fd_;
  int port_;
};

}  // namespace lifeboat::testing
