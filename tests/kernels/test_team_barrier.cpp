// kernels::TeamBarrier: every thread of the team waits for all the others, thread 0 runs the
// serial section exactly once per round between them, and what each side wrote before the barrier
// is seen by the other side after it — with waits short enough to be caught spinning and long
// enough to end in sleep.
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "kernels/parallel.hpp"
#include "test_util.hpp"

namespace bp::testing {
namespace {

void run_rounds(int threads, int rounds, std::chrono::microseconds slow_every_7th) {
  kernels::TeamBarrier barrier(threads);
  std::vector<int64_t> written(static_cast<size_t>(threads), -1);  // by each thread, per round
  int64_t serial_round = -1;  // written by thread 0's serial section
  int64_t serial_calls = 0;
  std::atomic<int64_t> mismatches{0};
  auto body = [&](int t) {
    for (int r = 0; r < rounds; ++r) {
      if (r % 7 == t % 7 && slow_every_7th.count() > 0) std::this_thread::sleep_for(slow_every_7th);
      written[static_cast<size_t>(t)] = r;
      barrier.arrive_and_wait(t, [&] {
        // Every thread's write of this round is visible here, and no thread is past the barrier.
        for (int64_t w : written)
          if (w != r) ++mismatches;
        serial_round = r;
        ++serial_calls;
      });
      if (serial_round != r) ++mismatches;
      // A second barrier, so that no thread writes the next round's value before every thread
      // has read this one's.
      barrier.arrive_and_wait(t, [] {});
    }
  };
  std::vector<std::thread> team;
  for (int t = 1; t < threads; ++t) team.emplace_back(body, t);
  body(0);
  for (auto& th : team) th.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(serial_calls, rounds);
  EXPECT_EQ(serial_round, rounds - 1);
}

TEST(TeamBarrier, OneThreadRunsTheSerialSectionAtOnce) {
  kernels::TeamBarrier barrier(1);
  int calls = 0;
  for (int r = 0; r < 3; ++r) barrier.arrive_and_wait(0, [&] { ++calls; });
  EXPECT_EQ(calls, 3);
}

TEST(TeamBarrier, ShortWaitsSeeEachOthersWrites) {
  run_rounds(2, 20000, {});
}

TEST(TeamBarrier, MoreThreadsThanCores) {
  run_rounds(5, 2000, {});
}

TEST(TeamBarrier, LongWaitsSleepAndStillWake) {
  // 200 us pauses outlast any spin, so the waits end in sleep (and the spin budget shrinks).
  run_rounds(3, 300, std::chrono::microseconds(200));
}

// A thread that cannot arrive aborts the barrier: the thread waiting for it (thread 0, whose
// serial section never runs, or another), sleeping or spinning, returns false, and so does every
// later arrival.
TEST(TeamBarrier, AbortReleasesTheWaitingThreads) {
  for (int failing : {0, 1, 2})
    for (auto delay : {std::chrono::microseconds(0), std::chrono::microseconds(2000)}) {
      kernels::TeamBarrier barrier(3);
      std::atomic<int> released{0}, serial_calls{0};
      auto body = [&](int t) {
        if (t == failing) {
          std::this_thread::sleep_for(delay);
          barrier.abort();
          return;
        }
        if (!barrier.arrive_and_wait(t, [&] { ++serial_calls; })) ++released;
        if (!barrier.arrive_and_wait(t, [&] { ++serial_calls; })) ++released;
      };
      std::vector<std::thread> team;
      for (int t = 0; t < 3; ++t) team.emplace_back(body, t);
      for (auto& th : team) th.join();
      EXPECT_EQ(released.load(), 4) << failing;
      EXPECT_EQ(serial_calls.load(), 0) << failing;
    }
}

}  // namespace
}  // namespace bp::testing
