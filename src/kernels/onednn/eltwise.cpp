// Elementwise functions through oneDNN's eltwise primitives, which are JIT-compiled vector code.
// A primitive is created per function, parameters and length on first use and kept. Only what
// calls libm passes through here: the reference loops of the rest (relu, leaky_relu, hardswish,
// neg, abs, the derivatives that are formulas of y, ...) vectorise as they are and run as fast.
// What has no oneDNN algorithm of the same meaning (log, whose absolute error near 1 is large
// relative to the value, pow, clamp, softplus's value) stays with the reference too: the kernels
// return false.
#include <oneapi/dnnl/dnnl.hpp>

#include <map>
#include <optional>
#include <tuple>

#include "kernels/kernels.hpp"
#include "kernels/onednn/engine.hpp"
#include "kernels/parallel.hpp"

namespace bp::kernels::onednn {

namespace {

using dnnl::algorithm;
using dnnl::memory;

// oneDNN's algorithm and its (alpha, beta) for one of our functions, whose values (forward and
// backward) are `scale` times the algorithm's.
struct Algorithm {
  algorithm kind;
  float alpha = 0, beta = 0;
  float scale = 1;
};

// The functions whose reference calls libm in this direction: the others' reference loops vectorise
// (sigmoid's, tanh's and elu's derivatives are formulas of y).
std::optional<Algorithm> algorithm_of(Unary op, float alpha, bool backward) {
  switch (op) {
    case Unary::exp:
      return backward ? std::nullopt : std::optional(Algorithm{algorithm::eltwise_exp});
    case Unary::sigmoid:
      return backward ? std::nullopt : std::optional(Algorithm{algorithm::eltwise_logistic});
    case Unary::tanh:
      return backward ? std::nullopt : std::optional(Algorithm{algorithm::eltwise_tanh});
    case Unary::elu:
      return backward ? std::nullopt : std::optional(Algorithm{algorithm::eltwise_elu, alpha});
    case Unary::selu:
      if (backward) return std::nullopt;
      return Algorithm{algorithm::eltwise_elu, activation::selu::alpha, 0, activation::selu::scale};
    case Unary::gelu:
      return Algorithm{algorithm::eltwise_gelu_erf};
    case Unary::softplus:
      // The derivative of oneDNN's soft_relu, softplus with beta = 1; not its value, which goes
      // below zero (to -2e-6) where the true one is a tiny positive number, as at x = -20.
      if (!backward || alpha != 1.0f) return std::nullopt;
      return Algorithm{algorithm::eltwise_soft_relu};
    case Unary::silu:
      return Algorithm{algorithm::eltwise_swish, 1.0f};
    case Unary::mish:
      return Algorithm{algorithm::eltwise_mish};
    default:
      return std::nullopt;
  }
}

struct Key {
  bool backward;
  algorithm kind;
  float alpha, beta;
  int64_t n;
  int threads = planned_threads();
  auto tie() const { return std::tie(backward, kind, alpha, beta, n, threads); }
  bool operator<(const Key& o) const { return tie() < o.tie(); }
};

struct Entry {
  dnnl::primitive primitive;
  memory a, b, c;  // forward: src, dst; backward: src, diff_dst, diff_src
};

Entry make_entry(const Key& key) {
  dnnl::engine& eng = cpu_engine();
  const memory::desc md({key.n}, memory::data_type::f32, memory::format_tag::a);
  PlanFor plan(key.threads);
  dnnl::eltwise_forward::desc fd(dnnl::prop_kind::forward_training, key.kind, md, key.alpha,
                                 key.beta);
  dnnl::eltwise_forward::primitive_desc fpd(fd, eng);
  Entry e{dnnl::eltwise_forward(fpd), memory(md, eng, nullptr), memory(md, eng, nullptr),
          memory(md, eng, nullptr)};
  if (key.backward) {
    dnnl::eltwise_backward::desc bd(key.kind, md, md, key.alpha, key.beta);
    e.primitive = dnnl::eltwise_backward(dnnl::eltwise_backward::primitive_desc(bd, eng, fpd));
  }
  return e;
}

// y[i] *= scale.
void scale_by(float scale, float* y, int64_t n) {
  if (scale == 1.0f) return;
  parallel_ranges(n, n > kParallelGrain, [=](int64_t begin, int64_t end) {
    const float s = scale;
    for (int64_t i = begin; i < end; ++i) y[i] *= s;
  });
}

// Runs the cached primitive of `key` on (a, b) -> c.
void run(const Key& key, const float* a, const float* b, float* c) {
  thread_local std::map<Key, Entry> cache;  // see PlanFor
  auto it = cache.find(key);
  checked("elementwise function", [&] {
    if (it == cache.end()) it = cache.emplace(key, make_entry(key)).first;
    Entry& e = it->second;
    e.a.set_data_handle(const_cast<float*>(a));
    e.b.set_data_handle(const_cast<float*>(b));
    if (key.backward) {
      e.c.set_data_handle(c);
      e.primitive.execute(
          cpu_stream(), {{DNNL_ARG_SRC, e.a}, {DNNL_ARG_DIFF_DST, e.b}, {DNNL_ARG_DIFF_SRC, e.c}});
    } else {
      e.primitive.execute(cpu_stream(), {{DNNL_ARG_SRC, e.a}, {DNNL_ARG_DST, e.b}});
    }
    cpu_stream().wait();
  });
}

}  // namespace

bool unary_forward(Unary op, float alpha, float, const float* x, float* y, int64_t n) {
  const std::optional<Algorithm> a = algorithm_of(op, alpha, false);
  if (!a || n == 0) return false;
  run(Key{false, a->kind, a->alpha, a->beta, n}, x, y, nullptr);
  scale_by(a->scale, y, n);
  return true;
}

bool unary_backward(Unary op, float alpha, float, const float* x, const float*, const float* gy,
                    float* gx, int64_t n) {
  const std::optional<Algorithm> a = algorithm_of(op, alpha, true);
  if (!a || n == 0) return false;
  run(Key{true, a->kind, a->alpha, a->beta, n}, x, gy, gx);
  scale_by(a->scale, gx, n);
  return true;
}

}  // namespace bp::kernels::onednn
