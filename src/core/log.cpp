#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace autoglm {
namespace {

spdlog::logger& logger() {
  static std::shared_ptr<spdlog::logger> instance = [] {
    auto l = spdlog::stderr_color_mt("autoglm");
    l->set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");
    l->set_level(spdlog::level::warn);
    return l;
  }();
  return *instance;
}

}  // namespace

void set_log_level(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      logger().set_level(spdlog::level::debug);
      return;
    case LogLevel::kInfo:
      logger().set_level(spdlog::level::info);
      return;
    case LogLevel::kWarn:
      logger().set_level(spdlog::level::warn);
      return;
    case LogLevel::kError:
      logger().set_level(spdlog::level::err);
      return;
    case LogLevel::kOff:
      logger().set_level(spdlog::level::off);
      return;
  }
}

void log_debug(const std::string& m) {
  logger().debug(m);
}
void log_info(const std::string& m) {
  logger().info(m);
}
void log_warn(const std::string& m) {
  logger().warn(m);
}
void log_error(const std::string& m) {
  logger().error(m);
}

}  // namespace autoglm
