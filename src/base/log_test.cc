#include "base/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <regex>
#include <string>

#include "gtest/gtest.h"

namespace lifeboat::base {
namespace {

// Runs `f` with stderr redirected to a file and returns what it wrote.
template <typename F>
std::string CaptureStderr(F f) {
  char path[] = "/tmp/lifeboat-log-XXXXXX";
  int fd = ::mkstemp(path);
  int saved = ::dup(STDERR_FILENO);
  ::dup2(fd, STDERR_FILENO);
  f();
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  std::string out;
  char buf[4096];
  ::lseek(fd, 0, SEEK_SET);
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, n);
  ::close(fd);
  ::unlink(path);
  return out;
}

TEST(LogTest, KlogLineFormat) {
  InitLogging(0);
  std::string out = CaptureStderr([] { LOG_WARN("checkpoint {} is {}", "kube-system/a", 42); });
  // Wmmdd hh:mm:ss.uuuuuu     PID file:line] message
  std::regex klog(R"(^W\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ log_test\.cc:\d+\] checkpoint kube-system/a is 42\n$)");
  EXPECT_TRUE(std::regex_match(out, klog)) << out;
}

TEST(LogTest, VerbosityDecidesWhatIsWritten) {
  InitLogging(0);
  std::string quiet = CaptureStderr([] {
    LOG_DEBUG("hidden {}", 1);
    LOG_INFO("shown");
    LOG_ERROR("failed");
  });
  EXPECT_EQ(quiet.find("hidden"), std::string::npos);
  EXPECT_NE(quiet.find("] shown\n"), std::string::npos);
  EXPECT_EQ(quiet.rfind("E", 0), std::string::npos);  // the first line is the info one
  EXPECT_NE(quiet.find("\nE"), std::string::npos);
  InitLogging(1);
  std::string verbose = CaptureStderr([] { LOG_DEBUG("now shown {}", 2); });
  EXPECT_NE(verbose.find("now shown 2"), std::string::npos);
  InitLogging(0);
}

TEST(LogTest, DebugAndTraceAreKlogInfoLines) {
  // klog knows I, W, E and F only; its V-level lines are info lines.
  InitLogging(2);
  std::string out = CaptureStderr([] {
    LOG_DEBUG("debug line");
    LB_LOG_AT_(LogLevel::kTrace, "trace line");
  });
  InitLogging(0);
  std::regex klog(R"(^I\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ log_test\.cc:\d+\] debug line\n)"
                  R"(I\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ log_test\.cc:\d+\] trace line\n$)");
  EXPECT_TRUE(std::regex_match(out, klog)) << out;
}

}  // namespace
}  // namespace lifeboat::base
