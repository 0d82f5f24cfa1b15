// Matrix multiply through oneDNN's matmul primitive, one matrix or a batch of them in one call.
// Creating a primitive JIT-compiles a kernel, so one is created per distinct shape and kept; every
// later call only rebinds the data pointers. Under bf16() the primitive reads bf16 copies of A and
// B (the caller's, from a Bf16Source, or converted on the call by cached reorders) and
// accumulates and writes C in fp32.
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
  bool copied_a, copied_b;  // the caller has the operand's bf16 copy (a Bf16Source)
  int threads;              // a primitive plans its work for the thread count it was created under
  auto tie() const {
    return std::tie(batch, trans_a, trans_b, m, n, k, lda, ldb, ldc, stride_a, stride_b, stride_c,
                    alpha, beta, bf16, copied_a, copied_b, threads);
  }
  bool operator<(const Key& o) const { return tie() < o.tie(); }
};

// An input: `user` wraps the caller's fp32 buffer (rebound on every call); `inner` is what the
// primitive reads: the same memory, a bf16 copy (allocated once) that `convert` fills, or the
// caller's bf16 copy (`copied`, rebound on every call).
struct Operand {
  memory user, inner;
  dnnl::reorder convert;
  bool converts = false;
  bool copied = false;
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

// The operand that reads the caller's `user` memory through `inner`; a copied one reads only
// `inner`, bound to the caller's bf16 copy.
Operand make_operand(const memory::desc& user, const memory::desc& inner, bool copied) {
  dnnl::engine& eng = cpu_engine();
  if (copied) return {memory(), memory(inner, eng, nullptr), dnnl::reorder(), false, true};
  Operand op{memory(user, eng, nullptr), memory(), dnnl::reorder(), false, false};
  if (inner == user) {
    op.inner = op.user;
  } else {
    op.inner = memory(inner, eng);
    op.convert = dnnl::reorder(op.user, op.inner);
    op.converts = true;
  }
  return op;
}

// What the primitive reads of an operand that the caller stores (in fp32) as operand_desc
// describes: in fp32 the caller's memory; in bf16 the caller's copy (`copied`: the same layout)
// or a dense copy that the entry converts into.
memory::desc inner_desc(int64_t batch, int64_t stride, int64_t rows, int64_t cols, bool transposed,
                        int64_t ld, bool copied, memory::data_type type) {
  if (type == memory::data_type::f32 || copied)
    return operand_desc(batch, stride, rows, cols, transposed, ld, type);
  return dense_desc(batch, stride, rows, cols, transposed, type);
}

// The entry computing in `type` (f32, or bf16 operands with f32 accumulation); throws dnnl::error
// when oneDNN has no such matmul for this CPU.
Entry make_entry(const Key& key, memory::data_type type) {
  dnnl::engine& eng = cpu_engine();
  constexpr auto f32 = memory::data_type::f32;
  const bool copied_a = type != f32 && key.copied_a, copied_b = type != f32 && key.copied_b;
  const memory::desc a_user =
      operand_desc(key.batch, key.stride_a, key.m, key.k, key.trans_a, key.lda, f32);
  const memory::desc b_user =
      operand_desc(key.batch, key.stride_b, key.k, key.n, key.trans_b, key.ldb, f32);
  const memory::desc a_inner =
      inner_desc(key.batch, key.stride_a, key.m, key.k, key.trans_a, key.lda, copied_a, type);
  const memory::desc b_inner =
      inner_desc(key.batch, key.stride_b, key.k, key.n, key.trans_b, key.ldb, copied_b, type);
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
  return Entry{dnnl::matmul(pd), make_operand(a_user, a_inner, copied_a),
               make_operand(b_user, b_inner, copied_b), memory(c_desc, eng, nullptr)};
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

// Binds an operand's buffer: the source's bf16 copy, or the caller's fp32 data (converted into
// the entry's bf16 copy where the primitive reads bf16).
void bind(Operand& op, const float* data, Bf16Source* source, dnnl::stream& stream) {
  if (op.copied) {
    op.inner.set_data_handle(const_cast<uint16_t*>(source->bf16()));
    return;
  }
  op.user.set_data_handle(const_cast<float*>(data));
  if (op.converts) op.convert.execute(stream, op.user, op.inner);
}

// Runs the cached primitive of `key`.
void run(const Key& key, const float* a, const float* b, float* c, Bf16Sources sources) {
  thread_local std::map<Key, Entry> cache;  // see PlanFor
  auto it = cache.find(key);
  checked("matrix multiply", [&] {
    if (it == cache.end()) it = cache.emplace(key, make_entry(key)).first;
    Entry& e = it->second;
    dnnl::stream& stream = cpu_stream();
    bind(e.a, a, sources.a, stream);
    bind(e.b, b, sources.b, stream);
    e.c.set_data_handle(c);
    e.primitive.execute(
        stream, {{DNNL_ARG_SRC, e.a.inner}, {DNNL_ARG_WEIGHTS, e.b.inner}, {DNNL_ARG_DST, e.c}});
    stream.wait();
  });
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  onednn::gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, {});
}

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc,
          Bf16Sources sources) {
  // Qualified: argument-dependent lookup also finds kernels::gemm_batch (Bf16Sources is there).
  onednn::gemm_batch(1, trans_a, trans_b, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, c, ldc, 0,
                     sources);
}

void gemm_batch(int64_t batch, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                float alpha, const float* a, int64_t lda, int64_t stride_a, const float* b,
                int64_t ldb, int64_t stride_b, float beta, float* c, int64_t ldc,
                int64_t stride_c) {
  onednn::gemm_batch(batch, trans_a, trans_b, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b,
                     beta, c, ldc, stride_c, {});
}

void gemm_batch(int64_t batch, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                float alpha, const float* a, int64_t lda, int64_t stride_a, const float* b,
                int64_t ldb, int64_t stride_b, float beta, float* c, int64_t ldc, int64_t stride_c,
                Bf16Sources sources) {
  if (batch == 0 || m == 0 || n == 0 || k == 0) {
    // Nothing to multiply: only the scaling of C remains, which the reference does exactly.
    reference::gemm_batch(batch, trans_a, trans_b, m, n, k, alpha, a, lda, stride_a, b, ldb,
                          stride_b, beta, c, ldc, stride_c);
    return;
  }
  if (batch > 1 && stride_a == 0 && stride_b == 0) {
    // The same product for every C: oneDNN's batch comes from A or B, so one matrix at a time.
    for (int64_t i = 0; i < batch; ++i)
      onednn::gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c + i * stride_c, ldc,
                   sources);
    return;
  }
  const bool in_bf16 = bf16();
  run({batch, trans_a, trans_b, m, n, k, lda, ldb, ldc, stride_a, stride_b, stride_c, alpha, beta,
       in_bf16, in_bf16 && sources.a, in_bf16 && sources.b, planned_threads()},
      a, b, c, sources);
}

namespace {

// A reorder of n floats into n bf16 values.
struct Conversion {
  dnnl::reorder reorder;
  memory from, to;
};

}  // namespace

void to_bf16(const float* x, uint16_t* y, int64_t n) {
  if (n == 0) return;
  thread_local std::map<std::pair<int64_t, int>, Conversion> cache;  // see PlanFor
  const std::pair<int64_t, int> key{n, planned_threads()};
  auto it = cache.find(key);
  checked("conversion to bf16", [&] {
    if (it == cache.end()) {
      PlanFor plan(key.second);
      dnnl::engine& eng = cpu_engine();
      memory from({{n}, memory::data_type::f32, memory::format_tag::a}, eng, nullptr);
      memory to({{n}, memory::data_type::bf16, memory::format_tag::a}, eng, nullptr);
      it = cache.emplace(key, Conversion{dnnl::reorder(from, to), from, to}).first;
    }
    Conversion& c = it->second;
    c.from.set_data_handle(const_cast<float*>(x));
    c.to.set_data_handle(y);
    c.reorder.execute(cpu_stream(), c.from, c.to);
    cpu_stream().wait();
  });
}

}  // namespace bp::kernels::onednn
