#include "checkpoint/metrics.h"

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace lifeboat::checkpoint {
namespace {

const char* SourceName(Metrics::Source s) {
  switch (s) {
    case Metrics::Source::kRuntime:
      return "runtime";
    case Metrics::Source::kKubelet:
      return "kubelet";
    case Metrics::Source::kApi:
      return "api";
    case Metrics::Source::kApply:
      return "apply";
    case Metrics::Source::kWrite:
      return "write";
  }
  return "?";
}

double ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  long pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return static_cast<double>(pages_resident) * ::sysconf(_SC_PAGESIZE);
}

double CpuSeconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void Metric(std::string& out, const char* name, const char* type, const char* help) {
  absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

}  // namespace

Metrics::Metrics(Clock clock) : clock_(std::move(clock)), started_(clock_()) {}

void Metrics::TickDone(std::chrono::nanoseconds duration, bool frozen, const CheckpointStates& states) {
  std::lock_guard<std::mutex> lock(mu_);
  ++ticks_;
  if (frozen) ++frozen_ticks_;
  last_tick_seconds_ = duration.count() / 1e9;
  tick_seconds_sum_ += last_tick_seconds_;
  last_tick_ = clock_();
  by_state_.clear();
  for (const auto& [id, st] : states.by_id) ++by_state_[st.state];
}

void Metrics::Error(Source source) {
  std::lock_guard<std::mutex> lock(mu_);
  ++errors_[source];
}

void Metrics::Activation() {
  std::lock_guard<std::mutex> lock(mu_);
  ++activations_;
}

void Metrics::KubeletRead() {
  std::lock_guard<std::mutex> lock(mu_);
  ++kubelet_reads_;
}

void Metrics::ApiContact() {
  std::lock_guard<std::mutex> lock(mu_);
  last_api_contact_unix_ =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

bool Metrics::Healthy(std::chrono::steady_clock::duration stale) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto now = clock_();
  auto since = ticks_ == 0 ? now - started_ : now - last_tick_;
  return since < stale;
}

std::string Metrics::Render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  Metric(out, "lifeboat_checkpointer_checkpoints", "gauge", "Checkpoints by state.");
  for (State s : {State::kNone, State::kInactive, State::kInactiveGrace, State::kActive, State::kActiveGrace,
                  State::kRemove}) {
    auto it = by_state_.find(s);
    absl::StrAppend(&out, "lifeboat_checkpointer_checkpoints{state=\"", StateName(s), "\"} ",
                    it == by_state_.end() ? 0 : it->second, "\n");
  }
  Metric(out, "lifeboat_checkpointer_activations_total", "counter",
         "Checkpoints started (copied into the kubelet's manifest dir).");
  absl::StrAppend(&out, "lifeboat_checkpointer_activations_total ", activations_, "\n");
  Metric(out, "lifeboat_checkpointer_errors_total", "counter",
         "Failed reads of the runtime, kubelet or API server, and failed writes or actions.");
  for (Source s : {Source::kRuntime, Source::kKubelet, Source::kApi, Source::kWrite, Source::kApply}) {
    auto it = errors_.find(s);
    absl::StrAppend(&out, "lifeboat_checkpointer_errors_total{source=\"", SourceName(s), "\"} ",
                    it == errors_.end() ? 0 : it->second, "\n");
  }
  Metric(out, "lifeboat_checkpointer_last_api_contact_timestamp_seconds", "gauge",
         "Unix time of the last successful pod list from the API server (0: never).");
  absl::StrAppend(&out, "lifeboat_checkpointer_last_api_contact_timestamp_seconds ",
                  absl::StrFormat("%.3f", last_api_contact_unix_), "\n");
  Metric(out, "lifeboat_checkpointer_kubelet_reads_total", "counter",
         "Reads of the kubelet's /pods (every tick, or as --kubelet-refresh-period allows).");
  absl::StrAppend(&out, "lifeboat_checkpointer_kubelet_reads_total ", kubelet_reads_, "\n");
  Metric(out, "lifeboat_checkpointer_ticks_total", "counter", "Ticks run.");
  absl::StrAppend(&out, "lifeboat_checkpointer_ticks_total ", ticks_, "\n");
  Metric(out, "lifeboat_checkpointer_frozen_ticks_total", "counter",
         "Ticks in which nothing could change because the runtime could not be read.");
  absl::StrAppend(&out, "lifeboat_checkpointer_frozen_ticks_total ", frozen_ticks_, "\n");
  Metric(out, "lifeboat_checkpointer_tick_duration_seconds", "summary", "Time spent in ticks.");
  absl::StrAppend(&out, "lifeboat_checkpointer_tick_duration_seconds_sum ", absl::StrFormat("%.6f", tick_seconds_sum_),
                  "\nlifeboat_checkpointer_tick_duration_seconds_count ", ticks_, "\n");
  Metric(out, "lifeboat_checkpointer_last_tick_duration_seconds", "gauge", "Duration of the last tick.");
  absl::StrAppend(&out, "lifeboat_checkpointer_last_tick_duration_seconds ",
                  absl::StrFormat("%.6f", last_tick_seconds_), "\n");
  Metric(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  absl::StrAppend(&out, "process_resident_memory_bytes ", absl::StrFormat("%.0f", ResidentBytes()), "\n");
  Metric(out, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
  absl::StrAppend(&out, "process_cpu_seconds_total ", absl::StrFormat("%.3f", CpuSeconds()), "\n");
  return out;
}

namespace {

// How long one client may take to send its request: the server answers one client at a time.
constexpr int kRequestTimeoutMs = 2000;
constexpr size_t kMaxRequestBytes = 8192;

void SendAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

// Reads the request head (up to the blank line) within kRequestTimeoutMs; "" when the client
// sent nothing usable.
std::string ReadHead(int fd) {
  std::string head;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kRequestTimeoutMs);
  char buf[1024];
  while (head.find("\r\n\r\n") == std::string::npos && head.find("\n\n") == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || head.size() > kMaxRequestBytes) return "";
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return "";
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return "";
    head.append(buf, static_cast<size_t>(n));
  }
  return head;
}

void Respond(int fd, int code, absl::string_view reason, absl::string_view type, absl::string_view body,
             bool head_only) {
  std::string out = absl::StrCat("HTTP/1.1 ", code, " ", reason, "\r\nContent-Type: ", type,
                                 "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n");
  if (!head_only) absl::StrAppend(&out, body);
  SendAll(fd, out);
}

}  // namespace

struct MetricsServer::Impl {
  int listen_fd = -1;
  int wake_fd = -1;  // eventfd: written by the destructor to end the loop
  const Metrics* metrics = nullptr;
  std::chrono::steady_clock::duration stale{};
  std::thread thread;

  ~Impl() {
    if (listen_fd >= 0) ::close(listen_fd);
    if (wake_fd >= 0) ::close(wake_fd);
  }

  void Serve(int fd) const {
    std::string head = ReadHead(fd);
    if (head.empty()) return;
    absl::string_view request_line = absl::string_view(head).substr(0, head.find_first_of("\r\n"));
    std::vector<absl::string_view> parts = absl::StrSplit(request_line, ' ');
    if (parts.size() != 3 || !absl::StartsWith(parts[2], "HTTP/1.")) {
      Respond(fd, 400, "Bad Request", "text/plain", "bad request\n", false);
      return;
    }
    bool head_only = parts[0] == "HEAD";
    if (parts[0] != "GET" && !head_only) {
      Respond(fd, 405, "Method Not Allowed", "text/plain", "only GET\n", false);
      return;
    }
    absl::string_view path = parts[1].substr(0, parts[1].find('?'));
    if (path == "/healthz") {
      bool ok = metrics->Healthy(stale);
      Respond(fd, ok ? 200 : 500, ok ? "OK" : "Internal Server Error", "text/plain",
              ok ? "ok" : "the checkpointer's loop has not completed a tick recently", head_only);
    } else if (path == "/metrics") {
      Respond(fd, 200, "OK", "text/plain; version=0.0.4", metrics->Render(), head_only);
    } else {
      Respond(fd, 404, "Not Found", "text/plain", "not found: try /healthz or /metrics\n", head_only);
    }
  }

  void Loop() const {
    for (;;) {
      pollfd fds[2] = {{listen_fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
      int r = ::poll(fds, 2, -1);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 || fds[1].revents != 0) return;
      if (fds[0].revents == 0) continue;
      int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      Serve(fd);
      ::shutdown(fd, SHUT_WR);
      ::close(fd);
    }
  }
};

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& address,
                                                                    const Metrics* metrics,
                                                                    std::chrono::steady_clock::duration stale) {
  auto colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("metrics address \"", address, "\" is not host:port"));
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address \"", address, "\": cannot resolve ", host, ": ", gai_strerror(rc)));
  }
  std::unique_ptr<MetricsServer> s(new MetricsServer());
  s->impl_ = std::make_unique<Impl>();
  Impl& im = *s->impl_;
  im.metrics = metrics;
  im.stale = stale;
  std::string error = "no address";
  for (addrinfo* a = found; a != nullptr && im.listen_fd < 0; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 16) == 0) {
      im.listen_fd = fd;
    } else {
      error = std::strerror(errno);
      ::close(fd);
    }
  }
  ::freeaddrinfo(found);
  if (im.listen_fd < 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address, " for /healthz and /metrics: ", error));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  ::getsockname(im.listen_fd, reinterpret_cast<sockaddr*>(&bound), &len);
  s->port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                               : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  im.wake_fd = ::eventfd(0, EFD_CLOEXEC);
  if (im.wake_fd < 0) return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
  im.thread = std::thread([&im] { im.Loop(); });
  return s;
}

MetricsServer::~MetricsServer() {
  if (impl_ && impl_->thread.joinable()) {
    uint64_t one = 1;
    // Cannot fail: the counter is far from full.
    [[maybe_unused]] ssize_t n = ::write(impl_->wake_fd, &one, sizeof one);
    impl_->thread.join();
  }
}

}  // namespace lifeboat::checkpoint
