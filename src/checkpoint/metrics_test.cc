#include "checkpoint/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>

#include "gtest/gtest.h"

namespace lifeboat::checkpoint {
namespace {

// Sends `request` to 127.0.0.1:port and returns everything the server answers (it closes).
std::string Exchange(int port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return "connect failed";
  }
  if (!request.empty()) (void)::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

TEST(MetricsServerTest, ServesHealthAndMetrics) {
  // A clock the test moves (read by the server's thread too).
  std::atomic<std::chrono::steady_clock::rep> ticks{0};
  Metrics metrics([&] { return std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(ticks)); });
  auto advance = [&](std::chrono::steady_clock::duration d) { ticks += d.count(); };
  CheckpointStates states;
  // Healthy while a tick completed less than `stale` ago (or, before the first, since start).
  auto stale = std::chrono::milliseconds(300);
  auto server = MetricsServer::Start("127.0.0.1:0", &metrics, stale);
  ASSERT_TRUE(server.ok()) << server.status();
  int port = (*server)->port();
  ASSERT_GT(port, 0);
  std::string health = Exchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(health.rfind("HTTP/1.1 200 ", 0), 0u) << health;
  advance(stale - std::chrono::milliseconds(1));
  health = Exchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(health.rfind("HTTP/1.1 200 ", 0), 0u) << "still within `stale` of the start: " << health;
  advance(std::chrono::milliseconds(1));
  health = Exchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(health.rfind("HTTP/1.1 500 ", 0), 0u) << health;

  metrics.TickDone(std::chrono::milliseconds(3), false, states);
  metrics.Activation();
  health = Exchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(health.rfind("HTTP/1.1 200 ", 0), 0u) << health;
  EXPECT_NE(health.find("\r\n\r\nok"), std::string::npos) << health;
  advance(stale);
  EXPECT_EQ(Exchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").rfind("HTTP/1.1 500 ", 0), 0u)
      << "no tick for `stale`";
  metrics.TickDone(std::chrono::milliseconds(3), false, states);
  EXPECT_EQ(Exchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").rfind("HTTP/1.1 200 ", 0), 0u);

  std::string m = Exchange(port, "GET /metrics?x=1 HTTP/1.0\r\n\r\n");
  EXPECT_EQ(m.rfind("HTTP/1.1 200 ", 0), 0u) << m;
  EXPECT_NE(m.find("lifeboat_checkpointer_ticks_total 2\n"), std::string::npos) << m;
  EXPECT_NE(m.find("process_resident_memory_bytes "), std::string::npos) << m;
  auto body = m.find("\r\n\r\n");
  auto length = m.find("Content-Length: ");
  ASSERT_NE(body, std::string::npos);
  ASSERT_NE(length, std::string::npos);
  EXPECT_EQ(std::stoul(m.substr(length + 16)), m.size() - body - 4);

  EXPECT_EQ(Exchange(port, "GET /nope HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404 ", 0), 0u);
  EXPECT_EQ(Exchange(port, "POST /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 405 ", 0), 0u);
  EXPECT_EQ(Exchange(port, "garbage\r\n\r\n").rfind("HTTP/1.1 400 ", 0), 0u);
  std::string head = Exchange(port, "HEAD /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(head.substr(head.find("\r\n\r\n") + 4), "");
}

TEST(MetricsServerTest, ASilentClientDoesNotBlockTheNextOne) {
  Metrics metrics;
  auto server = MetricsServer::Start("127.0.0.1:0", &metrics, std::chrono::seconds(30));
  ASSERT_TRUE(server.ok()) << server.status();
  int port = (*server)->port();
  // Connects and sends nothing: dropped after the request timeout.
  EXPECT_EQ(Exchange(port, ""), "");
  EXPECT_EQ(Exchange(port, "GET /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200 ", 0), 0u);
}

TEST(MetricsServerTest, BadAddressesAreRefused) {
  Metrics metrics;
  EXPECT_EQ(MetricsServer::Start("no-port", &metrics, std::chrono::seconds(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MetricsServer::Start("127.0.0.1:99999", &metrics, std::chrono::seconds(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto first = MetricsServer::Start("127.0.0.1:0", &metrics, std::chrono::seconds(1));
  ASSERT_TRUE(first.ok());
  auto taken = MetricsServer::Start("127.0.0.1:" + std::to_string((*first)->port()), &metrics, std::chrono::seconds(1));
  EXPECT_EQ(taken.status().code(), absl::StatusCode::kUnavailable) << taken.status();
}

}  // namespace
}  // namespace lifeboat::checkpoint
