// Weight initialisers. Each fills a tensor in place (never recorded) from a seeded Generator.
// fan_in/fan_out follow PyTorch: for a weight of shape (out, in, k...) fan_in = in·∏k and
// fan_out = out·∏k. All throw bp::Error on an undefined tensor or a tensor with fewer than 2
// dimensions where fans are needed, or on invalid bounds.
#pragma once

#include "backprop/export.hpp"
#include "backprop/random.hpp"
#include "backprop/tensor.hpp"

namespace bp::init {

struct BP_API Fans {
  int64_t fan_in;
  int64_t fan_out;
};
BP_API Fans fans(const Tensor& weight);

BP_API void zeros(Tensor& t);
BP_API void constant(Tensor& t, float value);
BP_API void uniform(Tensor& t, float low, float high, Generator& gen);    // requires low < high
BP_API void normal(Tensor& t, float mean, float stddev, Generator& gen);  // requires stddev >= 0
// U(-a, a), a = gain·sqrt(6 / (fan_in + fan_out)).
BP_API void xavier_uniform(Tensor& t, Generator& gen, float gain = 1.0f);
// N(0, gain²·2 / (fan_in + fan_out)).
BP_API void xavier_normal(Tensor& t, Generator& gen, float gain = 1.0f);
// U(-b, b), b = sqrt(6 / fan_in) (gain √2 for ReLU).
BP_API void kaiming_uniform(Tensor& t, Generator& gen);
// N(0, 2 / fan_in).
BP_API void kaiming_normal(Tensor& t, Generator& gen);
// N(0, 1 / fan_in).
BP_API void lecun_normal(Tensor& t, Generator& gen);
// U(-b, b), b = sqrt(3 / fan_in).
BP_API void lecun_uniform(Tensor& t, Generator& gen);

}  // namespace bp::init
