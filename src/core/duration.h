// Durations as users write them in flags and YAML files.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace lathe {

// "30d", "12h", "15m", "45s", "500ms", "0" -> milliseconds.
Result<int64_t> ParseDuration(const std::string& text);

}  // namespace lathe
