// Wall-clock time in the units MLflow's protocol uses.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace lathe {

inline int64_t NowMillis() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// `ms` since the Unix epoch as ISO-8601 in UTC with milliseconds: 2026-12-03T07:05:09.042Z.
std::string FormatIsoUtcMillis(int64_t ms);

}  // namespace lathe
