#include "backprop/init.hpp"

#include <cmath>

#include "backprop/error.hpp"

namespace bp::init {

namespace {
void check(const Tensor& t, const char* op) {
  BP_CHECK(t.defined(), "init::{}: the tensor is undefined", op);
}
}  // namespace

Fans fans(const Tensor& weight) {
  check(weight, "fans");
  BP_CHECK(weight.dim() >= 2,
           "init: fan-in/fan-out need a weight with at least 2 dimensions, got {}",
           to_string(weight.shape()));
  // The product of the trailing extents (not numel / (out·in), which divides by zero when empty).
  int64_t receptive = 1;
  for (int64_t d = 2; d < weight.dim(); ++d) receptive *= weight.size(d);
  return {weight.size(1) * receptive, weight.size(0) * receptive};
}

void zeros(Tensor& t) {
  constant(t, 0.0f);
}

void constant(Tensor& t, float value) {
  check(t, "constant");
  t.fill_(value);
}

void uniform(Tensor& t, float low, float high, Generator& gen) {
  check(t, "uniform");
  BP_CHECK(low < high && std::isfinite(low) && std::isfinite(high),
           "init::uniform: needs finite low < high (got {} and {})", low, high);
  for (float& v : t.values()) v = gen.uniform(low, high);
  t.bump_version();
}

void normal(Tensor& t, float mean, float stddev, Generator& gen) {
  check(t, "normal");
  BP_CHECK(stddev >= 0 && std::isfinite(stddev) && std::isfinite(mean),
           "init::normal: needs a finite mean and stddev >= 0 (got {} and {})", mean, stddev);
  for (float& v : t.values()) v = gen.normal(mean, stddev);
  t.bump_version();
}

void xavier_uniform(Tensor& t, Generator& gen, float gain) {
  Fans f = fans(t);
  float a = gain * std::sqrt(6.0f / static_cast<float>(f.fan_in + f.fan_out));
  uniform(t, -a, a, gen);
}

void xavier_normal(Tensor& t, Generator& gen, float gain) {
  Fans f = fans(t);
  normal(t, 0.0f, gain * std::sqrt(2.0f / static_cast<float>(f.fan_in + f.fan_out)), gen);
}

void kaiming_uniform(Tensor& t, Generator& gen) {
  float b = std::sqrt(6.0f / static_cast<float>(fans(t).fan_in));
  uniform(t, -b, b, gen);
}

void kaiming_normal(Tensor& t, Generator& gen) {
  normal(t, 0.0f, std::sqrt(2.0f / static_cast<float>(fans(t).fan_in)), gen);
}

void lecun_normal(Tensor& t, Generator& gen) {
  normal(t, 0.0f, std::sqrt(1.0f / static_cast<float>(fans(t).fan_in)), gen);
}

void lecun_uniform(Tensor& t, Generator& gen) {
  float b = std::sqrt(3.0f / static_cast<float>(fans(t).fan_in));
  uniform(t, -b, b, gen);
}

}  // namespace bp::init
