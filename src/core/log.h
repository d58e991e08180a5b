// Process-wide logging to stderr (spdlog behind a small facade so headers stay light).
#pragma once

#include <string>

namespace autoglm {

enum class LogLevel { kDebug, kInfo, kWarn, kError, kOff };

void set_log_level(LogLevel level);
void log_debug(const std::string& message);
void log_info(const std::string& message);
void log_warn(const std::string& message);
void log_error(const std::string& message);

}  // namespace autoglm
