// Diagnostics in klog's line format (`I1125 14:01:27.245360  11215 file.cc:80] message`) on
// stderr, so operators' existing log tooling parses Lifeboat like any Kubernetes component.
// Only the shell logs (CLI, loops, adapters); pure code returns data.
#pragma once

#include <spdlog/spdlog.h>

namespace lifeboat::base {

// Sets up the process-wide logger. verbosity 0 = info, >=1 = debug, >=2 = trace.
void InitLogging(int verbosity);

}  // namespace lifeboat::base

#define LOG_DEBUG(...) SPDLOG_DEBUG(__VA_ARGS__)
#define LOG_INFO(...) SPDLOG_INFO(__VA_ARGS__)
#define LOG_WARN(...) SPDLOG_WARN(__VA_ARGS__)
#define LOG_ERROR(...) SPDLOG_ERROR(__VA_ARGS__)
