#include "core/clock.h"

#include <ctime>

#include <fmt/format.h>

namespace lathe {

std::string FormatIsoUtcMillis(int64_t ms) {
  int64_t seconds = ms / 1000, millis = ms % 1000;
  if (millis < 0) {  // before 1970: the second below, and the milliseconds after it
    millis += 1000;
    --seconds;
  }
  const auto t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:03d}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
}

}  // namespace lathe
