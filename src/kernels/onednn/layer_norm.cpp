// Layer normalisation through oneDNN's layer_normalization primitives, one per shape, set of
// flags and direction, created on first use and kept. oneDNN keeps each row's variance where the
// kernel interface keeps 1/sqrt(var + eps): the forward pass converts what it wrote, the backward
// pass converts back into a buffer of its own.
#include <cmath>
#include <compare>
#include <map>
#include <vector>

#include "kernels/norm.hpp"
#include "kernels/onednn/bound_primitive.hpp"
#include "kernels/onednn/engine.hpp"

namespace bp::kernels::onednn {

namespace {

using dnnl::memory;
using dnnl::normalization_flags;

struct Key {
  bool backward;
  int64_t rows, cols;
  bool scale, shift;
  float eps;
  int threads = planned_threads();
  friend auto operator<=>(const Key&, const Key&) = default;
};

struct Entry {
  BoundPrimitive primitive;
  std::vector<float> var;      // backward: the variance rebuilt from rstd
  std::vector<float> scratch;  // backward: the shift it asks for, and unwanted parameter grads
};

normalization_flags flags_of(const Key& key) {
  auto f = normalization_flags::none;
  if (key.scale) f = f | normalization_flags::use_scale;
  if (key.shift) f = f | normalization_flags::use_shift;
  return f;
}

Entry make_entry(const Key& key) {
  dnnl::engine& eng = cpu_engine();
  const memory::desc md({key.rows, key.cols}, memory::data_type::f32, memory::format_tag::ab);
  const memory::desc sd({key.rows}, memory::data_type::f32, memory::format_tag::a);
  PlanFor plan(key.threads);
  using Forward = dnnl::layer_normalization_forward;
  using Backward = dnnl::layer_normalization_backward;
  Forward::primitive_desc fpd(
      Forward::desc(dnnl::prop_kind::forward_training, md, sd, key.eps, flags_of(key)), eng);
  if (!key.backward) return Entry{bind_arguments(fpd), {}, {}};
  const auto kind =
      key.scale || key.shift ? dnnl::prop_kind::backward : dnnl::prop_kind::backward_data;
  Backward::primitive_desc bpd(Backward::desc(kind, md, md, sd, key.eps, flags_of(key)), eng, fpd);
  return Entry{bind_arguments(bpd), std::vector<float>(static_cast<size_t>(key.rows)),
               std::vector<float>(static_cast<size_t>(2 * key.cols))};
}

Entry& entry(const Key& key) {
  thread_local std::map<Key, Entry> cache;  // see PlanFor
  auto it = cache.find(key);
  if (it == cache.end())
    it = checked("layer normalisation", [&] { return cache.emplace(key, make_entry(key)).first; });
  return it->second;
}

}  // namespace

bool layer_norm_forward(int64_t rows, int64_t cols, const float* x, const float* gamma,
                        const float* beta, float eps, float* y, float* mean, float* rstd) {
  if (rows == 0 || cols == 0) return false;
  Entry& e = entry(Key{false, rows, cols, gamma != nullptr, beta != nullptr, eps});
  // The variance goes where rstd belongs, and becomes rstd there.
  execute(e.primitive, "layer normalisation",
          {{DNNL_ARG_SRC, x},
           {DNNL_ARG_DST, y},
           {DNNL_ARG_MEAN, mean},
           {DNNL_ARG_VARIANCE, rstd},
           {DNNL_ARG_SCALE, gamma},
           {DNNL_ARG_SHIFT, beta}});
  for (int64_t r = 0; r < rows; ++r) rstd[r] = 1.0f / std::sqrt(rstd[r] + eps);
  return true;
}

bool layer_norm_backward(int64_t rows, int64_t cols, const float* x, const float* mean,
                         const float* rstd, const float* gamma, const float* gy, float* gx,
                         float* ggamma, float* gbeta) {
  if (rows == 0 || cols == 0 || !gx) return false;
  Entry& e = entry(Key{true, rows, cols, gamma != nullptr, gbeta != nullptr, 0.0f});
  // var = 1/rstd², with eps = 0 in the key (and so in the primitive): oneDNN's 1/sqrt(var + eps)
  // then gives rstd back, whatever eps the forward pass used.
  for (int64_t r = 0; r < rows; ++r) {
    const double s = rstd[r];
    e.var[static_cast<size_t>(r)] = static_cast<float>(1.0 / (s * s));
  }
  float* unwanted = e.scratch.data();
  execute(e.primitive, "layer normalisation",
          {{DNNL_ARG_SRC, x},
           {DNNL_ARG_MEAN, mean},
           {DNNL_ARG_VARIANCE, e.var.data()},
           {DNNL_ARG_DIFF_DST, gy},
           {DNNL_ARG_DIFF_SRC, gx},
           {DNNL_ARG_SCALE, gamma},
           {DNNL_ARG_DIFF_SCALE, ggamma ? ggamma : unwanted},
           {DNNL_ARG_SHIFT, unwanted + cols},
           {DNNL_ARG_DIFF_SHIFT, gbeta}});
  return true;
}

}  // namespace bp::kernels::onednn
