#include "base/log.h"

#include <spdlog/sinks/stdout_sinks.h>

namespace lifeboat::base {

void InitLogging(int verbosity) {
  auto logger = spdlog::stderr_logger_mt("lifeboat");
  // klog: Lmmdd hh:mm:ss.uuuuuu PID file:line] msg
  logger->set_pattern("%L%m%d %H:%M:%S.%f %7P %s:%#] %v", spdlog::pattern_time_type::utc);
  logger->set_level(verbosity >= 2   ? spdlog::level::trace
                    : verbosity == 1 ? spdlog::level::debug
                                     : spdlog::level::info);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

}  // namespace lifeboat::base
