#include "base/log.h"

#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace lifeboat::base {
namespace {

std::atomic<int> threshold{static_cast<int>(LogLevel::kInfo)};

// klog's severities are I, W, E and F; its verbose (V-level) lines are info lines, and so are
// our debug and trace ones: a klog parser knows no other letter.
char Letter(LogLevel level) {
  switch (level) {
    case LogLevel::kError:
      return 'E';
    case LogLevel::kWarning:
      return 'W';
    default:
      return 'I';
  }
}

}  // namespace

void InitLogging(int verbosity) {
  LogLevel level = verbosity >= 2 ? LogLevel::kTrace : verbosity == 1 ? LogLevel::kDebug : LogLevel::kInfo;
  threshold.store(static_cast<int>(level), std::memory_order_relaxed);
}

bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= threshold.load(std::memory_order_relaxed); }

void LogLine(LogLevel level, const char* file, int line, std::string_view message) {
  timeval tv{};
  ::gettimeofday(&tv, nullptr);
  tm utc{};
  ::gmtime_r(&tv.tv_sec, &utc);
  const char* base = std::strrchr(file, '/');
  base = base ? base + 1 : file;
  // klog: Lmmdd hh:mm:ss.uuuuuu PID file:line] msg
  fmt::memory_buffer out;
  fmt::format_to(std::back_inserter(out), "{}{:02}{:02} {:02}:{:02}:{:02}.{:06} {:7} {}:{}] ", Letter(level),
                 utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<long>(tv.tv_usec),
                 static_cast<long>(::getpid()), base, line);
  out.append(message);
  if (message.empty() || message.back() != '\n') out.push_back('\n');
  const char* p = out.data();
  size_t left = out.size();
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere to report a failing stderr
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace lifeboat::base
