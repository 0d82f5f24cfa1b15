// Matrix multiply through oneDNN's matmul primitive. Creating a primitive JIT-compiles a kernel,
// so one is created per distinct shape and kept; every later call only rebinds the data pointers.
// Under bf16() the primitive reads bf16 copies of A and B (converted on each call by cached
// reorders) and accumulates and writes C in fp32.
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
  bool bf16;
  int threads;  // a primitive plans its work for the thread count it was created under
  auto tie() const {
    return std::tie(trans_a, trans_b, m, n, k, lda, ldb, ldc, alpha, beta, bf16, threads);
  }
  bool operator<(const Key& o) const { return tie() < o.tie(); }
};

// An input: `user` wraps the caller's fp32 buffer (rebound on every call); `inner` is what the
// primitive reads, the same memory or a bf16 copy (allocated once) that `convert` fills.
struct Operand {
  memory user, inner;
  dnnl::reorder convert;
  bool converts = false;
};

struct Entry {
  dnnl::matmul primitive;
  Operand a, b;
  memory c;
};

// A rows×cols operand stored row-major with row stride ld, or transposed (column-major).
memory::desc operand_desc(int64_t rows, int64_t cols, bool transposed, int64_t ld,
                          memory::data_type type) {
  return {{rows, cols}, type, transposed ? memory::dims{1, ld} : memory::dims{ld, 1}};
}

Operand make_operand(const memory::desc& user, const memory::desc& inner) {
  dnnl::engine& eng = cpu_engine();
  Operand op{memory(user, eng, nullptr), memory(), dnnl::reorder(), false};
  if (inner == user) {
    op.inner = op.user;
  } else {
    op.inner = memory(inner, eng);
    op.convert = dnnl::reorder(op.user, op.inner);
    op.converts = true;
  }
  return op;
}

// The entry computing in `type` (f32, or bf16 operands with f32 accumulation); throws dnnl::error
// when oneDNN has no such matmul for this CPU.
Entry make_entry(const Key& key, memory::data_type type) {
  dnnl::engine& eng = cpu_engine();
  constexpr auto f32 = memory::data_type::f32;
  const memory::desc a_user = operand_desc(key.m, key.k, key.trans_a, key.lda, f32);
  const memory::desc b_user = operand_desc(key.k, key.n, key.trans_b, key.ldb, f32);
  // A converted copy is dense: its leading dimension is its row (or, transposed, column) length.
  const memory::desc a_inner =
      type == f32 ? a_user
                  : operand_desc(key.m, key.k, key.trans_a, key.trans_a ? key.m : key.k, type);
  const memory::desc b_inner =
      type == f32 ? b_user
                  : operand_desc(key.k, key.n, key.trans_b, key.trans_b ? key.k : key.n, type);
  memory::desc c_desc({key.m, key.n}, f32, memory::dims{key.ldc, 1});
  dnnl::primitive_attr attr;
  if (key.alpha != 1.0f) attr.set_output_scales(0, {key.alpha});
  if (key.beta != 0.0f) {
    dnnl::post_ops ops;
    ops.append_sum(key.beta);  // C = alpha·A·B + beta·C
    attr.set_post_ops(ops);
  }
  PlanFor plan(key.threads);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_inner, b_inner, c_desc), attr, eng);
  return Entry{dnnl::matmul(pd), make_operand(a_user, a_inner), make_operand(b_user, b_inner),
               memory(c_desc, eng, nullptr)};
}

Entry make_entry(const Key& key) {
  if (key.bf16) {
    try {
      return make_entry(key, memory::data_type::bf16);
    } catch (const dnnl::error&) {
      // No bf16 matmul without AVX-512 (oneDNN's ONEDNN_MAX_CPU_ISA may also forbid it): fp32.
    }
  }
  return make_entry(key, memory::data_type::f32);
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
  Key key{trans_a, trans_b, m, n, k, lda, ldb, ldc, alpha, beta, bf16(), planned_threads()};
  auto it = cache.find(key);
  checked("matrix multiply", [&] {
    if (it == cache.end()) it = cache.emplace(key, make_entry(key)).first;
    Entry& e = it->second;
    dnnl::stream& stream = cpu_stream();
    e.a.user.set_data_handle(const_cast<float*>(a));
    e.b.user.set_data_handle(const_cast<float*>(b));
    e.c.set_data_handle(c);
    for (Operand* op : {&e.a, &e.b})
      if (op->converts) op->convert.execute(stream, op->user, op->inner);
    e.primitive.execute(
        stream, {{DNNL_ARG_SRC, e.a.inner}, {DNNL_ARG_WEIGHTS, e.b.inner}, {DNNL_ARG_DST, e.c}});
    stream.wait();
  });
}

}  // namespace bp::kernels::onednn
