#include "testing/raw_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace lifeboat::testing {
namespace {

// A listening TCP socket on 127.0.0.1 and a port the kernel picked; returns the socket.
int ListenOnLoopback(int* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::listen(fd, 16);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

}  // namespace

RawServer::RawServer(Handler handler) : handler_(std::move(handler)) {
  listen_fd_ = ListenOnLoopback(&port_);
  thread_ = std::thread([this] { Loop(); });
}

RawServer::~RawServer() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
}

bool RawServer::WaitReadable(int fd) {
  while (!stop_) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) > 0) return true;
  }
  return false;
}

void RawServer::Loop() {
  while (WaitReadable(listen_fd_)) {
    int c = ::accept(listen_fd_, nullptr, nullptr);
    if (c < 0) continue;
    int conn = ++connections_;
    std::string in;
    int requests = 0;
    bool open = true;
    while (open && WaitReadable(c)) {
      char buf[4096];
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      in.append(buf, n);
      size_t end;
      while (open && (end = in.find("\r\n\r\n")) != std::string::npos) {
        std::string head = in.substr(0, end + 4);
        in.erase(0, end + 4);
        Reply r = handler_(head, conn, ++requests);
        if (!r.bytes.empty()) ::send(c, r.bytes.data(), r.bytes.size(), MSG_NOSIGNAL);
        if (r.close) open = false;
      }
    }
    ::close(c);
  }
}

SilentServer::SilentServer() { fd_ = ListenOnLoopback(&port_); }

SilentServer::~SilentServer() { ::close(fd_); }

}  // namespace lifeboat::testing
