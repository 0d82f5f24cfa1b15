// Wall-clock seconds for timing training steps and MPI waits. Internal.
#pragma once

#include <chrono>

namespace bp {

// Seconds on a monotonic clock (differences only are meaningful).
inline double now_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace bp
