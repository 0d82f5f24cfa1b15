// Embeddings: the forward pass copies rows, the threads sharing the indices; the backward pass adds
// rows of gy into the rows of gweight that the indices name, the threads sharing the table's rows
// (of k threads, thread t owns the rows r with r mod k = t, and adds into them in the order of the
// indices, as the reference does): no two threads write one row, and every sum is the reference's
// exactly, whatever the number of threads.
#include <algorithm>

#include "kernels/norm.hpp"
#include "kernels/parallel.hpp"
#include "kernels/simd/vector_clones.hpp"

namespace bp::kernels::simd {

namespace {

// out[j] += x[j] for j < n.
BP_VECTOR_CLONES void add_row(const float* __restrict x, float* __restrict out, int64_t n) {
  for (int64_t j = 0; j < n; ++j) out[j] += x[j];
}

}  // namespace

void embedding_forward(int64_t count, int64_t dim, const int64_t* index, const float* weight,
                       float* y) {
  parallel_ranges(count, count * dim > kParallelGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) std::copy_n(weight + index[i] * dim, dim, y + i * dim);
  });
}

void embedding_backward(int64_t count, int64_t dim, const int64_t* index, const float* gy,
                        float* gweight) {
  const bool parallel = count * dim > kParallelGrain;
  const int64_t owners = parallel ? omp_get_max_threads() : 1;
  // Every residue in [0, owners) goes to exactly one call, however parallel_ranges splits them.
  parallel_ranges(owners, parallel, [&](int64_t t0, int64_t t1) {
    for (int64_t i = 0; i < count; ++i)
      if (const int64_t t = index[i] % owners; t >= t0 && t < t1)
        add_row(gy + i * dim, gweight + index[i] * dim, dim);
  });
}

}  // namespace bp::kernels::simd
