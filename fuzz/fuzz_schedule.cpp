// libFuzzer target: the learning-rate schedule parser on arbitrary text must either give a
// schedule whose text form parses back to the same schedule, whose state loads back, and which
// answers lr(step) for any step, or throw bp::Error; anything else is a bug. The first two input
// bytes pick the run's length and steps per epoch (either may be 0: unknown).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "backprop/error.hpp"
#include "backprop/schedule.hpp"

namespace {

void check(const bp::optim::Schedule& schedule, const bp::optim::ScheduleContext& context) {
  const std::string text = schedule.to_string();
  auto again = bp::optim::parse_schedule(text, context);
  if (again->to_string() != text) std::abort();
  again->load_state(schedule.state());
  for (int64_t step : {int64_t{0}, int64_t{1}, int64_t{7}, schedule.length(), int64_t{1} << 40})
    (void)schedule.lr(step);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const bp::optim::ScheduleContext context{
      .base_lr = 0.1, .total_steps = int64_t{data[0]} * 97, .steps_per_epoch = int64_t{data[1]}};
  const std::string text(reinterpret_cast<const char*>(data + 2), size - 2);
  try {
    auto schedule = bp::optim::parse_schedule(text, context);
    schedule->observe(1.0);
    schedule->observe(2.0);
    check(*schedule, context);
  } catch (const bp::Error&) {
  }
  return 0;
}
