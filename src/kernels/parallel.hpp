// Loops shared among the OpenMP threads when they are worth it, and the barrier of a team of
// threads that runs a whole training epoch. Internal.
#pragma once

#include <linux/futex.h>
#include <omp.h>
#include <sys/syscall.h>
#include <unistd.h>

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

// A barrier for a fixed team of threads (an OpenMP parallel region) at which thread 0 runs the
// team's serial work: every other thread arrives and waits; thread 0 waits for them, runs
// `serial`, then releases them. One synchronisation per serial section (a plain barrier on each
// side would be two), which matters most on a busy machine, where each one can cost a thread its
// turn on a core.
//
// A waiting thread spins for a short while before it sleeps: the phases of a training step split
// across threads are a few microseconds apart, far less than it takes to wake a sleeping thread
// (which is what an OpenMP barrier does under OMP_WAIT_POLICY=passive). How long it spins adapts
// to the waits seen: up to kMaxSpin while they are short; when they are long (a checkpoint written
// between phases, a busy machine where a thread of the team waits for a core) the spin shrinks to
// nothing, so the team never burns a core that another thread needs.
class TeamBarrier {
 public:
  static constexpr std::chrono::nanoseconds kMaxSpin{std::chrono::microseconds(50)};

  explicit TeamBarrier(int threads) : threads_(threads) {}

  // Called by each of the `threads` threads, with its number t in [0, threads); returns true once
  // all have arrived and thread 0 has run serial() (the other threads' `serial` is not called).
  // Returns false, without running serial(), once abort() has been called.
  template <class F>
  bool arrive_and_wait(int t, F&& serial) {
    if (t != 0) {
      const uint32_t round = round_.load(std::memory_order_seq_cst);
      if (aborted_.load(std::memory_order_seq_cst)) return false;
      mark_change();
      arrived_.fetch_add(1, std::memory_order_seq_cst);
      if (lead_sleeping_.load(std::memory_order_seq_cst)) futex_wake(arrived_);
      wait_for_change(round_, round, workers_sleeping_);
      return !aborted_.load(std::memory_order_seq_cst);
    }
    for (int seen = arrived_.load(std::memory_order_seq_cst); seen != threads_ - 1;
         seen = arrived_.load(std::memory_order_seq_cst)) {
      if (aborted_.load(std::memory_order_seq_cst)) return false;
      wait_for_change(arrived_, seen, lead_sleeping_);
    }
    if (aborted_.load(std::memory_order_seq_cst)) return false;
    serial();
    arrived_.store(0, std::memory_order_relaxed);
    mark_change();
    round_.fetch_add(1, std::memory_order_seq_cst);
    if (workers_sleeping_.load(std::memory_order_seq_cst) > 0) futex_wake(round_);
    return true;
  }

  // For a team that cannot all arrive (one of them failed): every thread waiting at the barrier,
  // and every one that arrives later, returns false. The barrier cannot be used again.
  void abort() {
    aborted_.store(true, std::memory_order_seq_cst);
    // Changing the words the threads wait on wakes them (a waiting thread reads aborted_ after it
    // sees the change; one that reads a word after this sees aborted_ too).
    arrived_.fetch_add(1 << 20, std::memory_order_seq_cst);
    round_.fetch_add(1, std::memory_order_seq_cst);
    futex_wake(arrived_);
    futex_wake(round_);
  }

 private:
  // Sleeps while `word` holds `seen` (or returns at once if it no longer does).
  template <class T>
  static void futex_wait(std::atomic<T>& word, T seen) {
    static_assert(sizeof(T) == 4 && sizeof(std::atomic<T>) == 4);
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT_PRIVATE,
            static_cast<uint32_t>(seen), nullptr, nullptr, 0);
  }
  // Wakes every thread sleeping on `word`.
  template <class T>
  static void futex_wake(std::atomic<T>& word) {
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr,
            nullptr, 0);
  }

  static void pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }

  // Returns once `word` no longer holds `seen`: spins, then sleeps, counted in `sleeping`. Never
  // sched_yield (nor std::atomic::wait, which yields before it sleeps): on a busy machine a yield
  // can hand the core to another process for a whole time slice.
  template <class T>
  void wait_for_change(std::atomic<T>& word, T seen, std::atomic<int>& sleeping) {
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    const std::chrono::nanoseconds budget(spin_ns_.load(std::memory_order_relaxed));
    for (int i = 1; budget.count() > 0; ++i) {
      if (word.load(std::memory_order_acquire) != seen) return;
      pause();
      if (i % 64 == 0 && Clock::now() - start > budget) break;
    }
    // The thread that changes `word` does so before it reads `sleeping`, and this one counts
    // itself in before it reads `word` again: one of the two sees the other (both are seq_cst).
    sleeping.fetch_add(1, std::memory_order_seq_cst);
    while (word.load(std::memory_order_seq_cst) == seen) futex_wait(word, seen);
    sleeping.fetch_sub(1, std::memory_order_relaxed);
    // A wait that a longer spin would have caught grows the spin; one that no spin would have
    // caught halves it. What counts is when `word` changed, not when this thread woke up: waking
    // takes tens of microseconds itself, and counting it would keep a shrunken spin from ever
    // growing back.
    const auto needed = std::chrono::nanoseconds(changed_at_ns_.load(std::memory_order_relaxed)) -
                        start.time_since_epoch();
    spin_ns_.store(needed < kMaxSpin ? std::min(kMaxSpin.count(), 2 * budget.count() + 1000)
                                     : budget.count() / 2,
                   std::memory_order_relaxed);
  }

  // Stamps the time of a change to arrived_ or round_ (made right after, with seq_cst: a thread
  // that sees the change also sees this stamp or a later one).
  void mark_change() {
    changed_at_ns_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::steady_clock::now().time_since_epoch())
                             .count(),
                         std::memory_order_relaxed);
  }

  const int threads_;
  std::atomic<int> arrived_{0};     // threads other than 0 at the barrier this round
  std::atomic<uint32_t> round_{0};  // rounds completed
  std::atomic<int> workers_sleeping_{0};
  std::atomic<int> lead_sleeping_{0};
  std::atomic<int64_t> spin_ns_{kMaxSpin.count()};  // how long a waiting thread spins
  std::atomic<int64_t> changed_at_ns_{0};           // steady_clock time of the last change
  std::atomic<bool> aborted_{false};
};

}  // namespace bp::kernels
