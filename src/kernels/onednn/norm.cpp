// Batch normalisation with given statistics through oneDNN's batch_normalization primitive, one
// per shape and set of flags, created on first use and kept (creating one JIT-compiles a kernel).
// Training computes the statistics with the reference kernels instead, as sums that the parts of
// a batch split across threads add up (see kernels/norm.hpp); oneDNN's backward with given
// statistics treats them as constants, which training cannot use.
#include <oneapi/dnnl/dnnl.hpp>

#include <map>
#include <tuple>
#include <unordered_map>

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

struct Key {
  int64_t n, c, inner;
  bool scale, shift;
  float eps;
  int threads = planned_threads();
  auto tie() const { return std::tie(n, c, inner, scale, shift, eps, threads); }
  bool operator<(const Key& o) const { return tie() < o.tie(); }
};

dnnl::primitive make_forward(const Key& key) {
  auto flags = normalization_flags::use_global_stats;
  if (key.scale) flags = flags | normalization_flags::use_scale;
  if (key.shift) flags = flags | normalization_flags::use_shift;
  dnnl::batch_normalization_forward::desc d(dnnl::prop_kind::forward_inference,
                                            data_desc(key.n, key.c, key.inner), key.eps, flags);
  return dnnl::batch_normalization_forward({d, cpu_engine()});
}

dnnl::primitive& primitive(const Key& key) {
  thread_local std::map<Key, dnnl::primitive> cache;  // see PlanFor
  auto it = cache.find(key);
  if (it == cache.end()) {
    PlanFor plan(key.threads);
    it =
        checked("batch normalisation", [&] { return cache.emplace(key, make_forward(key)).first; });
  }
  return it->second;
}

memory bind(const memory::desc& md, const float* data) {
  return memory(md, cpu_engine(), const_cast<float*>(data));
}

}  // namespace

void batch_norm_forward(int64_t n, int64_t c, int64_t inner, const float* x, const float* mean,
                        const float* var, const float* gamma, const float* beta, float eps,
                        float* y) {
  if (n == 0 || c == 0 || inner == 0) return;
  dnnl::primitive& p = primitive({n, c, inner, gamma != nullptr, beta != nullptr, eps});
  const memory::desc md = data_desc(n, c, inner), cd = channel_desc(c);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, bind(md, x)},
                                       {DNNL_ARG_DST, bind(md, y)},
                                       {DNNL_ARG_MEAN, bind(cd, mean)},
                                       {DNNL_ARG_VARIANCE, bind(cd, var)}};
  if (gamma) args.emplace(DNNL_ARG_SCALE, bind(cd, gamma));
  if (beta) args.emplace(DNNL_ARG_SHIFT, bind(cd, beta));
  checked("batch normalisation", [&] {
    p.execute(cpu_stream(), args);
    cpu_stream().wait();
  });
}

}  // namespace bp::kernels::onednn
