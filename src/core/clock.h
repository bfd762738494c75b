// Wall-clock time in the units MLflow's protocol uses.
#pragma once

#include <chrono>
#include <cstdint>

namespace lathe {

inline int64_t NowMillis() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace lathe
