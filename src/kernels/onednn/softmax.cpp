// Softmax and log-softmax through oneDNN's softmax primitives (JIT-compiled vector code), one per
// direction, kind and shape, created on first use and kept. oneDNN's vector code serves a softmax
// over contiguous values only (inner = 1: a classifier's logits, attention scores); over a strided
// axis it would fall back to a plain loop no faster than the reference, so those return false.
#include <compare>
#include <map>

#include "kernels/kernels.hpp"
#include "kernels/onednn/bound_primitive.hpp"
#include "kernels/onednn/engine.hpp"

namespace bp::kernels::onednn {

namespace {

using dnnl::memory;

struct Key {
  bool backward, log;
  int64_t rows, cols;
  int threads = planned_threads();
  friend auto operator<=>(const Key&, const Key&) = default;
};

BoundPrimitive make_primitive(const Key& key) {
  dnnl::engine& eng = cpu_engine();
  const memory::desc md({key.rows, key.cols}, memory::data_type::f32, memory::format_tag::ab);
  const auto kind = key.log ? dnnl::algorithm::softmax_log : dnnl::algorithm::softmax_accurate;
  PlanFor plan(key.threads);
  dnnl::softmax_v2_forward::primitive_desc fpd(
      dnnl::softmax_v2_forward::desc(dnnl::prop_kind::forward_training, kind, md, md, 1), eng);
  if (!key.backward) return bind_arguments(fpd);
  return bind_arguments(dnnl::softmax_v2_backward::primitive_desc(
      dnnl::softmax_v2_backward::desc(kind, md, md, md, 1), eng, fpd));
}

BoundPrimitive& primitive(const Key& key) {
  thread_local std::map<Key, BoundPrimitive> cache;  // see PlanFor
  auto it = cache.find(key);
  if (it == cache.end())
    it = checked("softmax", [&] { return cache.emplace(key, make_primitive(key)).first; });
  return it->second;
}

bool takes(int64_t outer, int64_t axis, int64_t inner) {
  return inner == 1 && outer > 0 && axis > 0;
}

}  // namespace

bool softmax_forward(bool log, int64_t outer, int64_t axis, int64_t inner, const float* x,
                     float* y) {
  if (!takes(outer, axis, inner)) return false;
  execute(primitive(Key{false, log, outer, axis}), "softmax",
          {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, y}});
  return true;
}

bool softmax_backward(bool log, int64_t outer, int64_t axis, int64_t inner, const float* y,
                      const float* gy, float* gx) {
  if (!takes(outer, axis, inner)) return false;
  execute(primitive(Key{true, log, outer, axis}), "softmax",
          {{DNNL_ARG_DST, y}, {DNNL_ARG_DIFF_DST, gy}, {DNNL_ARG_DIFF_SRC, gx}});
  return true;
}

}  // namespace bp::kernels::onednn
