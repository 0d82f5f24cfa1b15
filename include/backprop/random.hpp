// Generator: a small, seeded, platform-independent random number generator.
#pragma once

#include <cstdint>
#include "backprop/export.hpp"

namespace bp {

// xoshiro256** seeded through splitmix64. The same seed gives the same sequence on every platform
// and compiler (unlike std:: distributions), which makes training runs reproducible bit for bit.
class BP_API Generator {
 public:
  explicit Generator(uint64_t seed = 0x5eed);
  void seed(uint64_t seed);
  uint64_t next_u64();
  // Uniform in [0, 1) with 24 random bits.
  float uniform();
  // Uniform in [low, high).
  float uniform(float low, float high);
  // Standard normal (Box-Muller).
  float normal(float mean = 0.0f, float stddev = 1.0f);
  // Uniform integer in [0, n). Requires n > 0.
  uint64_t below(uint64_t n);

 private:
  uint64_t s_[4];
  bool has_spare_ = false;
  float spare_ = 0.0f;
};

// The process-wide default generator used when none is passed.
BP_API Generator& default_generator();
// Reseeds the default generator.
BP_API void manual_seed(uint64_t seed);

}  // namespace bp
