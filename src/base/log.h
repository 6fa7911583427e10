// Diagnostics in klog's line format (`I1125 14:01:27.245360  11215 file.cc:80] message`) on
// stderr, so operators' existing log tooling parses Lifeboat like any Kubernetes component.
// Only the shell logs (CLI, loops, adapters); pure code returns data.
//
// Messages are fmt format strings: LOG_INFO("checkpoint {} written", id). fmt is used header-only
// and the writer is our own, so the lean checkpointer binary links no logging library.
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace lifeboat::base {

enum class LogLevel { kTrace = 0, kDebug = 1, kInfo = 2, kWarning = 3, kError = 4 };

// Sets the process-wide threshold: verbosity 0 = info, 1 = debug, >= 2 = trace. Before the
// first call, info and above are written.
void InitLogging(int verbosity);

// Whether messages of `level` are written (checked before formatting them).
bool LogEnabled(LogLevel level);

// Writes one klog line (one write(2), so lines from threads never interleave).
void LogLine(LogLevel level, const char* file, int line, std::string_view message);

}  // namespace lifeboat::base

#define LB_LOG_AT_(level, ...)                                                              \
  do {                                                                                      \
    if (::lifeboat::base::LogEnabled(level)) {                                              \
      ::lifeboat::base::LogLine(level, __FILE__, __LINE__, ::fmt::format(__VA_ARGS__));     \
    }                                                                                       \
  } while (0)

#define LOG_DEBUG(...) LB_LOG_AT_(::lifeboat::base::LogLevel::kDebug, __VA_ARGS__)
#define LOG_INFO(...) LB_LOG_AT_(::lifeboat::base::LogLevel::kInfo, __VA_ARGS__)
#define LOG_WARN(...) LB_LOG_AT_(::lifeboat::base::LogLevel::kWarning, __VA_ARGS__)
#define LOG_ERROR(...) LB_LOG_AT_(::lifeboat::base::LogLevel::kError, __VA_ARGS__)
