// Loops shared among the OpenMP threads when they are worth it. Internal.
#pragma once

#include <omp.h>

#include <cstdint>

namespace bp::kernels {

// Work (elements touched) below which a loop runs on the calling thread: waking a second thread
// costs more than it saves.
inline constexpr int64_t kParallelGrain = 32768;

// Calls f(i) for i in [0, n): split statically across the OpenMP threads when `parallel` is true
// and there is more than one thread outside any parallel region; otherwise on the calling thread
// without entering an OpenMP construct at all (even a parallel region whose `if` clause is false
// costs about half a microsecond, more than many of the loops it would guard).
template <class F>
void parallel_for(int64_t n, bool parallel, F f) {
  if (!parallel || omp_in_parallel() || omp_get_max_threads() == 1) {
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) f(i);
}

// Calls f(begin, end) on contiguous ranges covering [0, n), one per thread, under the same rule
// (a single call f(0, n) when not parallel); keeps the inner loop for f to vectorise.
template <class F>
void parallel_ranges(int64_t n, bool parallel, F f) {
  if (!parallel || omp_in_parallel() || omp_get_max_threads() == 1) {
    f(int64_t{0}, n);
    return;
  }
#pragma omp parallel
  {
    const int64_t t = omp_get_thread_num(), k = omp_get_num_threads();
    f(n * t / k, n * (t + 1) / k);
  }
}

}  // namespace bp::kernels
