// Process-wide logging set-up: one spdlog logger on stderr, key=value structured lines.
#pragma once

#include <string>

#include "core/status.h"

namespace lathe {

// level: trace, debug, info, warn, error, off.
Status ConfigureLogging(const std::string& level);

}  // namespace lathe
