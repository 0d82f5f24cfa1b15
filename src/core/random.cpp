#include "backprop/random.hpp"

#include <cmath>
#include <numbers>

#include "backprop/error.hpp"

namespace bp {

namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}
}  // namespace

Generator::Generator(uint64_t seed) {
  this->seed(seed);
}

void Generator::seed(uint64_t seed) {
  uint64_t x = seed;
  for (auto& s : s_) s = splitmix64(x);
  has_spare_ = false;
}

uint64_t Generator::next_u64() {
  uint64_t result = rotl(s_[1] * 5, 7) * 9;
  uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

float Generator::uniform() {
  return static_cast<float>(next_u64() >> 40) * 0x1.0p-24f;
}

float Generator::uniform(float low, float high) {
  return low + (high - low) * uniform();
}

float Generator::normal(float mean, float stddev) {
  if (has_spare_) {
    has_spare_ = false;
    return mean + stddev * spare_;
  }
  // Box-Muller in double; u1 is in (0, 1] so the log is finite.
  double u1 = 1.0 - static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
  double u2 = static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
  double r = std::sqrt(-2.0 * std::log(u1));
  double theta = 2.0 * std::numbers::pi * u2;
  spare_ = static_cast<float>(r * std::sin(theta));
  has_spare_ = true;
  return mean + stddev * static_cast<float>(r * std::cos(theta));
}

uint64_t Generator::below(uint64_t n) {
  BP_CHECK(n > 0, "Generator::below: n must be positive");
  // Rejection sampling removes the modulo bias.
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do {
    x = next_u64();
  } while (x >= limit);
  return x % n;
}

Generator& default_generator() {
  static Generator gen;
  return gen;
}

void manual_seed(uint64_t seed) {
  default_generator().seed(seed);
}

}  // namespace bp
