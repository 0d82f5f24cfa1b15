// Matrix multiply through oneDNN's matmul primitive, one matrix or a batch of them in one call.
// Creating a primitive JIT-compiles a kernel, so one is created per distinct shape and kept; every
// later call only rebinds the data pointers. Under bf16() the primitive reads bf16 copies of A and
// B (converted on each call by cached reorders) and accumulates and writes C in fp32.
#include <oneapi/dnnl/dnnl.hpp>

#include <map>
#include <tuple>

#include "kernels/kernels.hpp"
#include "kernels/onednn/engine.hpp"

namespace bp::kernels::onednn {

namespace {

using dnnl::memory;

// A batch of 1 is a plain gemm (2-D operands); a batch stride of 0 repeats one operand.
struct Key {
  int64_t batch;
  bool trans_a, trans_b;
  int64_t m, n, k, lda, ldb, ldc, stride_a, stride_b, stride_c;
  float alpha, beta;
  bool bf16;
  int threads;  // a primitive plans its work for the thread count it was created under
  auto tie() const {
    return std::tie(batch, trans_a, trans_b, m, n, k, lda, ldb, ldc, stride_a, stride_b, stride_c,
                    alpha, beta, bf16, threads);
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

// A rows×cols operand stored row-major with row stride ld, or transposed (column-major); in a batch
// (batch > 1), one such matrix every `stride` floats, or the same one for all (stride 0).
memory::desc operand_desc(int64_t batch, int64_t stride, int64_t rows, int64_t cols,
                          bool transposed, int64_t ld, memory::data_type type) {
  const memory::dims inner = transposed ? memory::dims{1, ld} : memory::dims{ld, 1};
  if (batch == 1) return {{rows, cols}, type, inner};
  return {
      {stride ? batch : 1, rows, cols}, type, {stride ? stride : rows * cols, inner[0], inner[1]}};
}

// The dense copy of an operand that the bf16 primitive reads.
memory::desc dense_desc(int64_t batch, int64_t stride, int64_t rows, int64_t cols, bool transposed,
                        memory::data_type type) {
  return operand_desc(batch, stride ? rows * cols : 0, rows, cols, transposed,
                      transposed ? rows : cols, type);
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
  const memory::desc a_user =
      operand_desc(key.batch, key.stride_a, key.m, key.k, key.trans_a, key.lda, f32);
  const memory::desc b_user =
      operand_desc(key.batch, key.stride_b, key.k, key.n, key.trans_b, key.ldb, f32);
  const memory::desc a_inner =
      type == f32 ? a_user : dense_desc(key.batch, key.stride_a, key.m, key.k, key.trans_a, type);
  const memory::desc b_inner =
      type == f32 ? b_user : dense_desc(key.batch, key.stride_b, key.k, key.n, key.trans_b, type);
  const memory::desc c_desc =
      operand_desc(key.batch, key.stride_c, key.m, key.n, false, key.ldc, f32);
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

// Runs the cached primitive of `key`.
void run(const Key& key, const float* a, const float* b, float* c) {
  thread_local std::map<Key, Entry> cache;  // see PlanFor
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

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  gemm_batch(1, trans_a, trans_b, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, c, ldc, 0);
}

void gemm_batch(int64_t batch, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                float alpha, const float* a, int64_t lda, int64_t stride_a, const float* b,
                int64_t ldb, int64_t stride_b, float beta, float* c, int64_t ldc,
                int64_t stride_c) {
  if (batch == 0 || m == 0 || n == 0 || k == 0) {
    // Nothing to multiply: only the scaling of C remains, which the reference does exactly.
    reference::gemm_batch(batch, trans_a, trans_b, m, n, k, alpha, a, lda, stride_a, b, ldb,
                          stride_b, beta, c, ldc, stride_c);
    return;
  }
  if (batch > 1 && stride_a == 0 && stride_b == 0) {
    // The same product for every C: oneDNN's batch comes from A or B, so one matrix at a time.
    for (int64_t i = 0; i < batch; ++i)
      gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c + i * stride_c, ldc);
    return;
  }
  run({batch, trans_a, trans_b, m, n, k, lda, ldb, ldc, stride_a, stride_b, stride_c, alpha, beta,
       bf16(), planned_threads()},
      a, b, c);
}

}  // namespace bp::kernels::onednn
