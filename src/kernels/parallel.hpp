// Loops shared among the OpenMP threads when they are worth it. Internal.
#pragma once

#include <omp.h>
#include <sched.h>

#include <atomic>
#include <chrono>
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

// A reusable barrier for a fixed team of threads (an OpenMP parallel region) that spins for a
// short while before it sleeps. The phases of a training step split across threads are separated
// by a few microseconds of serial work, far less than it takes to wake a thread from sleep (which
// an OpenMP barrier does under OMP_WAIT_POLICY=passive); a long wait (a checkpoint written by a
// callback) still ends in sleep, so no thread burns a core it is not using.
class SpinBarrier {
 public:
  // How long a waiting thread spins before it sleeps.
  static constexpr std::chrono::microseconds kSpin{50};
  static constexpr std::chrono::microseconds kSpinWithoutYield{2};

  explicit SpinBarrier(int threads) : threads_(threads) {}

  // Returns once all `threads` threads have called it (for this round).
  void arrive_and_wait() {
    const uint32_t round = round_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == threads_) {
      arrived_.store(0, std::memory_order_relaxed);
      round_.fetch_add(1, std::memory_order_seq_cst);
      if (sleepers_.load(std::memory_order_seq_cst) > 0) round_.notify_all();
      return;
    }
    // Spin; past the first microseconds, give the core away between looks (sched_yield), so a
    // thread this one waits for that is queued behind it on a busy machine runs at once.
    const auto start = std::chrono::steady_clock::now();
    for (int i = 1;; ++i) {
      if (round_.load(std::memory_order_acquire) != round) return;
      if (i % 64 != 0) {
        pause();
        continue;
      }
      const auto waited = std::chrono::steady_clock::now() - start;
      if (waited > kSpin) break;
      if (waited > kSpinWithoutYield) sched_yield();
    }
    // The last thread bumps round_ before it reads sleepers_, and this one counts itself in
    // before it reads round_ again: one of the two sees the other (both are seq_cst).
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    while (round_.load(std::memory_order_seq_cst) == round) round_.wait(round);
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
  }

 private:
  static void pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }

  const int threads_;
  std::atomic<int> arrived_{0};
  std::atomic<uint32_t> round_{0};
  std::atomic<int> sleepers_{0};
};

}  // namespace bp::kernels
