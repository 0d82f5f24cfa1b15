// Batch normalisation through oneDNN's batch_normalization primitives, one per shape and set of
// flags, created on first use and kept (creating one JIT-compiles a kernel).
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

// x (n, c, inner) as a plain row-major oneDNN tensor: nc, or ncw when there are spatial values.
memory::desc data_desc(int64_t n, int64_t c, int64_t inner) {
  if (inner == 1) return memory::desc({n, c}, memory::data_type::f32, memory::format_tag::ab);
  return memory::desc({n, c, inner}, memory::data_type::f32, memory::format_tag::abc);
}

memory::desc channel_desc(int64_t c) {
  return memory::desc({c}, memory::data_type::f32, memory::format_tag::a);
}

struct Key {
  bool backward;
  int64_t n, c, inner;
  bool scale, shift;
  float eps;
  int threads = planned_threads();
  auto tie() const { return std::tie(backward, n, c, inner, scale, shift, eps, threads); }
  bool operator<(const Key& o) const { return tie() < o.tie(); }
};

normalization_flags flags_of(const Key& key) {
  auto f = normalization_flags::use_global_stats;
  if (key.scale) f = f | normalization_flags::use_scale;
  if (key.shift) f = f | normalization_flags::use_shift;
  return f;
}

// Flags of the training-mode pair (the statistics are inputs to backward but not global).
normalization_flags training_flags(const Key& key) {
  auto f = normalization_flags::none;
  if (key.scale) f = f | normalization_flags::use_scale;
  if (key.shift) f = f | normalization_flags::use_shift;
  return f;
}

struct Entry {
  dnnl::primitive primitive;
  std::vector<float> scratch;  // diff_scale when the caller does not want it
  std::vector<float> shift;    // backward asks for the shift, which its formulas never read
};

Entry make_forward(const Key& key) {
  dnnl::batch_normalization_forward::desc d(dnnl::prop_kind::forward_inference,
                                            data_desc(key.n, key.c, key.inner), key.eps,
                                            flags_of(key));
  dnnl::batch_normalization_forward::primitive_desc pd(d, cpu_engine());
  return Entry{dnnl::batch_normalization_forward(pd), {}, {}};
}

Entry make_backward(const Key& key) {
  const memory::desc md = data_desc(key.n, key.c, key.inner);
  dnnl::batch_normalization_forward::desc fd(dnnl::prop_kind::forward_training, md, key.eps,
                                             training_flags(key));
  dnnl::batch_normalization_forward::primitive_desc hint(fd, cpu_engine());
  const auto kind =
      key.scale || key.shift ? dnnl::prop_kind::backward : dnnl::prop_kind::backward_data;
  dnnl::batch_normalization_backward::desc bd(kind, md, md, key.eps, training_flags(key));
  dnnl::batch_normalization_backward::primitive_desc pd(bd, cpu_engine(), hint);
  return Entry{dnnl::batch_normalization_backward(pd),
               std::vector<float>(static_cast<size_t>(key.c)),
               std::vector<float>(static_cast<size_t>(key.c))};
}

Entry& entry(const Key& key) {
  thread_local std::map<Key, Entry> cache;  // see PlanFor
  auto it = cache.find(key);
  if (it == cache.end()) {
    PlanFor plan(key.threads);
    it = checked("batch normalisation", [&] {
      return cache.emplace(key, key.backward ? make_backward(key) : make_forward(key)).first;
    });
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
  const Key key{false, n, c, inner, gamma != nullptr, beta != nullptr, eps};
  Entry& e = entry(key);
  const memory::desc md = data_desc(n, c, inner), cd = channel_desc(c);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, bind(md, x)},
                                       {DNNL_ARG_DST, bind(md, y)},
                                       {DNNL_ARG_MEAN, bind(cd, mean)},
                                       {DNNL_ARG_VARIANCE, bind(cd, var)}};
  if (gamma) args.emplace(DNNL_ARG_SCALE, bind(cd, gamma));
  if (beta) args.emplace(DNNL_ARG_SHIFT, bind(cd, beta));
  checked("batch normalisation", [&] {
    e.primitive.execute(cpu_stream(), args);
    cpu_stream().wait();
  });
}

bool batch_norm_backward(int64_t n, int64_t c, int64_t inner, const float* x, const float* mean,
                         const float* var, const float* gamma, float eps, const float* gy,
                         float* gx, float* ggamma, float* gbeta) {
  if (n == 0 || c == 0 || inner == 0 || !gx) return false;
  const Key key{true, n, c, inner, gamma != nullptr, gbeta != nullptr, eps};
  Entry& e = entry(key);
  const memory::desc md = data_desc(n, c, inner), cd = channel_desc(c);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, bind(md, x)},
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
  checked("batch normalisation", [&] {
    e.primitive.execute(cpu_stream(), args);
    cpu_stream().wait();
  });
  return true;
}

}  // namespace bp::kernels::onednn
