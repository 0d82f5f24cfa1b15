// Batch normalisation through oneDNN's batch_normalization primitives, one per shape, pass and set
// of flags, created on first use and kept (creating one JIT-compiles a kernel).
#include <oneapi/dnnl/dnnl.hpp>

#include <map>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "kernels/norm.hpp"
#include "kernels/onednn/engine.hpp"

namespace bp::kernels::onednn {

namespace {

using dnnl::memory;
using dnnl::normalization_flags;

// x (n, c, inner) as a 4-D tensor (n, c, inner, 1): oneDNN runs nchw through its vectorised
// kernels, where nc and ncw would fall back to its slow reference loops. With inner = 1 the same
// bytes are also nhwc, which its JIT kernels take.
memory::desc data_desc(int64_t n, int64_t c, int64_t inner) {
  return memory::desc({n, c, inner, 1}, memory::data_type::f32,
                      inner == 1 ? memory::format_tag::acdb : memory::format_tag::abcd);
}

memory::desc channel_desc(int64_t c) {
  return memory::desc({c}, memory::data_type::f32, memory::format_tag::a);
}

// inference: y from given statistics; training: y and the batch's statistics; the backward passes
// with the batch's statistics (which depend on x) or with fixed ones.
enum class Pass { inference, training, backward_batch, backward_fixed };

struct Key {
  Pass pass;
  int64_t n, c, inner;
  bool scale, shift;
  float eps;
  int threads = planned_threads();
  auto tie() const { return std::tie(pass, n, c, inner, scale, shift, eps, threads); }
  bool operator<(const Key& o) const { return tie() < o.tie(); }
};

normalization_flags flags_of(const Key& key) {
  auto f = normalization_flags::none;
  if (key.pass == Pass::inference || key.pass == Pass::backward_fixed)
    f = f | normalization_flags::use_global_stats;
  if (key.scale) f = f | normalization_flags::use_scale;
  if (key.shift) f = f | normalization_flags::use_shift;
  return f;
}

struct Entry {
  dnnl::primitive primitive;
  std::vector<float> scratch;  // diff_scale when the caller does not want it
  std::vector<float> shift;    // backward asks for the shift, which its formulas never read
};

dnnl::batch_normalization_forward::primitive_desc forward_pd(const Key& key, dnnl::prop_kind kind) {
  dnnl::batch_normalization_forward::desc d(kind, data_desc(key.n, key.c, key.inner), key.eps,
                                            flags_of(key));
  return {d, cpu_engine()};
}

Entry make_forward(const Key& key) {
  const auto kind = key.pass == Pass::training ? dnnl::prop_kind::forward_training
                                               : dnnl::prop_kind::forward_inference;
  return Entry{dnnl::batch_normalization_forward(forward_pd(key, kind)), {}, {}};
}

Entry make_backward(const Key& key) {
  const memory::desc md = data_desc(key.n, key.c, key.inner);
  const auto kind =
      key.scale || key.shift ? dnnl::prop_kind::backward : dnnl::prop_kind::backward_data;
  dnnl::batch_normalization_backward::desc bd(kind, md, md, key.eps, flags_of(key));
  dnnl::batch_normalization_backward::primitive_desc pd(
      bd, cpu_engine(), forward_pd(key, dnnl::prop_kind::forward_training));
  return Entry{dnnl::batch_normalization_backward(pd),
               std::vector<float>(static_cast<size_t>(key.c)),
               std::vector<float>(static_cast<size_t>(key.c))};
}

Entry& entry(const Key& key) {
  thread_local std::map<Key, Entry> cache;  // see PlanFor
  auto it = cache.find(key);
  if (it == cache.end()) {
    PlanFor plan(key.threads);
    const bool forward = key.pass == Pass::inference || key.pass == Pass::training;
    it = checked("batch normalisation", [&] {
      return cache.emplace(key, forward ? make_forward(key) : make_backward(key)).first;
    });
  }
  return it->second;
}

memory bind(const memory::desc& md, const float* data) {
  return memory(md, cpu_engine(), const_cast<float*>(data));
}

using Args = std::unordered_map<int, memory>;

void run(Entry& e, const Args& args) {
  checked("batch normalisation", [&] {
    e.primitive.execute(cpu_stream(), args);
    cpu_stream().wait();
  });
}

// The forward passes: x, y, the statistics (read or written) and the optional scale and shift.
void forward(Pass pass, int64_t n, int64_t c, int64_t inner, const float* x, const float* gamma,
             const float* beta, float eps, float* y, const float* mean, const float* var) {
  Entry& e = entry({pass, n, c, inner, gamma != nullptr, beta != nullptr, eps});
  const memory::desc md = data_desc(n, c, inner), cd = channel_desc(c);
  Args args{{DNNL_ARG_SRC, bind(md, x)},
            {DNNL_ARG_DST, bind(md, y)},
            {DNNL_ARG_MEAN, bind(cd, mean)},
            {DNNL_ARG_VARIANCE, bind(cd, var)}};
  if (gamma) args.emplace(DNNL_ARG_SCALE, bind(cd, gamma));
  if (beta) args.emplace(DNNL_ARG_SHIFT, bind(cd, beta));
  run(e, args);
}

}  // namespace

void batch_norm_forward(int64_t n, int64_t c, int64_t inner, const float* x, const float* mean,
                        const float* var, const float* gamma, const float* beta, float eps,
                        float* y) {
  if (n == 0 || c == 0 || inner == 0) return;
  forward(Pass::inference, n, c, inner, x, gamma, beta, eps, y, mean, var);
}

void batch_norm_training(int64_t n, int64_t c, int64_t inner, const float* x, const float* gamma,
                         const float* beta, float eps, float* y, float* mean, float* var) {
  forward(Pass::training, n, c, inner, x, gamma, beta, eps, y, mean, var);
}

bool batch_norm_backward(bool training, int64_t n, int64_t c, int64_t inner, const float* x,
                         const float* mean, const float* var, const float* gamma, float eps,
                         const float* gy, float* gx, float* ggamma, float* gbeta) {
  if (n == 0 || c == 0 || inner == 0 || !gx) return false;
  const Pass pass = training ? Pass::backward_batch : Pass::backward_fixed;
  Entry& e = entry({pass, n, c, inner, gamma != nullptr, gbeta != nullptr, eps});
  const memory::desc md = data_desc(n, c, inner), cd = channel_desc(c);
  Args args{{DNNL_ARG_SRC, bind(md, x)},
            {DNNL_ARG_DIFF_DST, bind(md, gy)},
            {DNNL_ARG_DIFF_SRC, bind(md, gx)},
            {DNNL_ARG_MEAN, bind(cd, mean)},
            {DNNL_ARG_VARIANCE, bind(cd, var)}};
  if (gamma) {
    args.emplace(DNNL_ARG_SCALE, bind(cd, gamma));
    args.emplace(DNNL_ARG_DIFF_SCALE, bind(cd, ggamma ? ggamma : e.scratch.data()));
  }
  if (gbeta) {
    args.emplace(DNNL_ARG_SHIFT, bind(cd, e.shift.data()));
    args.emplace(DNNL_ARG_DIFF_SHIFT, bind(cd, gbeta));
  }
  run(e, args);
  return true;
}

}  // namespace bp::kernels::onednn
