// Matrix multiply through oneDNN's matmul primitive. Creating a primitive JIT-compiles a kernel,
// so one is created per distinct shape and kept; every later call only rebinds the data pointers.
#include <oneapi/dnnl/dnnl.hpp>

#include <map>
#include <tuple>

#include "kernels/kernels.hpp"
#include "kernels/onednn/engine.hpp"

namespace bp::kernels::onednn {

namespace {

using dnnl::memory;

struct Key {
  bool trans_a, trans_b;
  int64_t m, n, k, lda, ldb, ldc;
  float alpha, beta;
  int threads;  // a primitive plans its work for the thread count it was created under
  auto tie() const {
    return std::tie(trans_a, trans_b, m, n, k, lda, ldb, ldc, alpha, beta, threads);
  }
  bool operator<(const Key& o) const { return tie() < o.tie(); }
};

struct Entry {
  dnnl::matmul primitive;
  memory a, b, c;
};

Entry make_entry(const Key& key) {
  dnnl::engine& eng = cpu_engine();
  // Row-major storage; a transposed operand is the same buffer read with swapped strides.
  memory::desc a_desc({key.m, key.k}, memory::data_type::f32,
                      key.trans_a ? memory::dims{1, key.lda} : memory::dims{key.lda, 1});
  memory::desc b_desc({key.k, key.n}, memory::data_type::f32,
                      key.trans_b ? memory::dims{1, key.ldb} : memory::dims{key.ldb, 1});
  memory::desc c_desc({key.m, key.n}, memory::data_type::f32, memory::dims{key.ldc, 1});
  dnnl::primitive_attr attr;
  if (key.alpha != 1.0f) attr.set_output_scales(0, {key.alpha});
  if (key.beta != 0.0f) {
    dnnl::post_ops ops;
    ops.append_sum(key.beta);  // C = alpha·A·B + beta·C
    attr.set_post_ops(ops);
  }
  PlanFor plan(key.threads);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_desc, b_desc, c_desc), attr, eng);
  return Entry{dnnl::matmul(pd), memory(a_desc, eng, nullptr), memory(b_desc, eng, nullptr),
               memory(c_desc, eng, nullptr)};
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0 || k == 0) {
    // Nothing to multiply: only the scaling of C remains, which the reference does exactly.
    reference::gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  thread_local std::map<Key, Entry> cache;  // see PlanFor
  Key key{trans_a, trans_b, m, n, k, lda, ldb, ldc, alpha, beta, planned_threads()};
  auto it = cache.find(key);
  checked("matrix multiply", [&] {
    if (it == cache.end()) it = cache.emplace(key, make_entry(key)).first;
    Entry& e = it->second;
    e.a.set_data_handle(const_cast<float*>(a));
    e.b.set_data_handle(const_cast<float*>(b));
    e.c.set_data_handle(c);
    e.primitive.execute(cpu_stream(),
                        {{DNNL_ARG_SRC, e.a}, {DNNL_ARG_WEIGHTS, e.b}, {DNNL_ARG_DST, e.c}});
    cpu_stream().wait();
  });
}

}  // namespace bp::kernels::onednn
