// The vector kernels of broadcasting binary ops, sums over axes, strided copies, the convolution
// bias and embeddings must agree with the reference kernels: exactly where the arithmetic is the
// same, within the bound kernels.hpp states where a sum is added in another order. Sizes are odd,
// broadcast in every pattern, empty, and large enough to be split across threads.
#include <omp.h>

#include <bit>
#include <cmath>

#include "kernels/conv.hpp"
#include "kernels/norm.hpp"
#include "ops/common.hpp"
#include "test_util.hpp"

namespace bp {
namespace {

std::vector<float> random_vector(int64_t n, Generator& gen) {
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = gen.uniform(-1, 1);
  return v;
}

// Bit for bit (so -0 and +0 differ, and NaN equals NaN).
void expect_identical(const std::vector<float>& got, const std::vector<float>& want,
                      const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(want[i]))
        << what << " at " << i << ": fast " << got[i] << ", reference " << want[i];
}

// Runs f with `threads` OpenMP threads, then restores the count.
template <class F>
void with_threads(int threads, F f) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  f();
  omp_set_num_threads(saved);
}

// Pairs of shapes that broadcast together: equal, a bias over rows, a per-channel value over NCHW,
// scalars, a column against a matrix, axes of extent 1 on both sides, empty ones, and a large one
// that is split across threads.
const std::vector<std::pair<Shape, Shape>> kBroadcasts = {
    {{5, 7}, {5, 7}},       {{64, 515}, {515}},
    {{3, 1, 4}, {1, 5, 1}}, {{2, 3, 4, 5}, {1, 3, 1, 1}},
    {{}, {6, 7}},           {{4, 1}, {4, 33}},
    {{1, 1, 1}, {1}},       {{0, 3}, {3}},
    {{2, 0}, {1}},          {{8, 16, 29, 29}, {1, 16, 1, 1}},
    {{3, 70001}, {3, 1}},
};

TEST(FastStridedKernels, BinaryEqualsReference) {
  using kernels::Binary;
  Generator gen(31);
  for (const auto& [sa, sb] : kBroadcasts)
    for (bool swap : {false, true}) {
      const Shape& a_shape = swap ? sb : sa;
      const Shape& b_shape = swap ? sa : sb;
      const Shape shape = broadcast_shapes(a_shape, b_shape, "test");
      SCOPED_TRACE(to_string(a_shape) + " with " + to_string(b_shape));
      const auto a = random_vector(numel(a_shape), gen);
      const auto b = random_vector(numel(b_shape), gen);
      const auto a_strides = ops::broadcast_strides(a_shape, shape);
      const auto b_strides = ops::broadcast_strides(b_shape, shape);
      for (Binary op : {Binary::add, Binary::sub, Binary::mul, Binary::div}) {
        std::vector<float> want(static_cast<size_t>(numel(shape)), 5.0f), got = want;
        kernels::reference::binary(op, shape, a.data(), a_strides, b.data(), b_strides,
                                   want.data());
        ASSERT_TRUE(
            kernels::simd::binary(op, shape, a.data(), a_strides, b.data(), b_strides, got.data()));
        expect_identical(got, want, "binary");
      }
    }
}

TEST(FastStridedKernels, StridedCopyEqualsReferenceForBroadcastsAndPermutations) {
  Generator gen(32);
  for (const auto& [from, to] : kBroadcasts) {
    const Shape shape = broadcast_shapes(from, to, "test");
    SCOPED_TRACE(to_string(from) + " to " + to_string(shape));
    const auto x = random_vector(numel(from), gen);
    const auto strides = ops::broadcast_strides(from, shape);
    std::vector<float> want(static_cast<size_t>(numel(shape)), 5.0f), got = want;
    kernels::reference::strided_copy(shape, x.data(), strides, want.data());
    ASSERT_TRUE(kernels::simd::strided_copy(shape, x.data(), strides, got.data()));
    expect_identical(got, want, "broadcast");
  }
  // Permutations of (2, 3, 5, 7) and of a large (64, 4, 28, 16), as attention's heads.
  for (const Shape& in : {Shape{2, 3, 5, 7}, Shape{64, 4, 28, 16}})
    for (const std::vector<size_t>& order :
         {std::vector<size_t>{0, 2, 1, 3}, {0, 1, 3, 2}, {3, 2, 1, 0}, {1, 0, 2, 3}}) {
      const auto unit = contiguous_strides(in);
      Shape shape(4);
      std::vector<int64_t> strides(4);
      for (size_t d = 0; d < 4; ++d) {
        shape[d] = in[order[d]];
        strides[d] = unit[order[d]];
      }
      SCOPED_TRACE(to_string(in) + " permuted to " + to_string(shape));
      const auto x = random_vector(numel(in), gen);
      std::vector<float> want(x.size(), 5.0f), got = want;
      kernels::reference::strided_copy(shape, x.data(), strides, want.data());
      ASSERT_TRUE(kernels::simd::strided_copy(shape, x.data(), strides, got.data()));
      expect_identical(got, want, "permute");
    }
}

// Sums over the broadcast axes (the adjoint of broadcasting: from the larger shape back to the
// smaller). Where the last axis is kept, each output adds its values in the reference's order;
// where it is summed, within n·2⁻²³·Σ|x| for an output that sums n values. Either way the same
// bits on one thread and on several.
TEST(FastStridedKernels, ReduceSumMatchesReferenceWithinTheStatedBound) {
  Generator gen(33);
  for (const auto& [sa, sb] : kBroadcasts)
    for (const Shape& to : {sa, sb}) {
      const Shape shape = broadcast_shapes(sa, sb, "test");
      SCOPED_TRACE(to_string(shape) + " summed to " + to_string(to));
      const auto x = random_vector(numel(shape), gen);
      const auto strides = ops::broadcast_strides(to, shape);
      const auto init = random_vector(numel(to), gen);
      std::vector<float> want = init, got = init, one_thread = init;
      kernels::reference::reduce_sum(shape, x.data(), strides, want.data());
      ASSERT_TRUE(kernels::simd::reduce_sum(shape, x.data(), strides, got.data()));
      with_threads(1, [&] {
        ASSERT_TRUE(kernels::simd::reduce_sum(shape, x.data(), strides, one_thread.data()));
      });
      expect_identical(got, one_thread, "reduce_sum on one thread and on several");
      // The innermost axis of extent > 1 is summed (the kernel then adds in another order), or
      // kept.
      bool last_summed = false;
      for (size_t d = shape.size(); d-- > 0;)
        if (shape[d] != 1) {
          last_summed = strides[d] == 0;
          break;
        }
      // n values added to out, |x| <= 1 and |out| <= 1: within n·2⁻²³·(n + 1).
      const double n =
          static_cast<double>(x.size()) / std::max<double>(1.0, static_cast<double>(init.size()));
      const double bound = last_summed ? n * (n + 1) * std::ldexp(1.0, -23) : 0.0;
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_LE(std::fabs(got[i] - want[i]), bound) << "at " << i;
    }
}

TEST(FastStridedKernels, FallBackBeyondEightAxesAndForPow) {
  // Nine axes that do not merge: a broadcast on every other one.
  const Shape shape(9, 2), half{2, 1, 2, 1, 2, 1, 2, 1, 2};
  const auto a_strides = contiguous_strides(shape), b_strides = ops::broadcast_strides(half, shape);
  std::vector<float> a(512, 1.0f), b(32, 2.0f), out(512, 5.0f);
  EXPECT_FALSE(kernels::simd::binary(kernels::Binary::add, shape, a.data(), a_strides, b.data(),
                                     b_strides, out.data()));
  EXPECT_FALSE(kernels::simd::reduce_sum(shape, a.data(), b_strides, b.data()));
  EXPECT_FALSE(kernels::simd::binary(kernels::Binary::pow, {512}, a.data(), {{1}}, b.data(), {{0}},
                                     out.data()));
  EXPECT_EQ(out, std::vector<float>(512, 5.0f));  // untouched
  EXPECT_EQ(b, std::vector<float>(32, 2.0f));
}

TEST(FastConvBiasKernels, MatchReference) {
  Generator gen(34);
  // (n, c, hw): odd planes, one value per plane, one channel, empty, and large.
  for (const auto [n, c, hw] : std::vector<std::array<int64_t, 3>>{
           {3, 5, 7}, {4, 6, 1}, {1, 1, 49}, {2, 3, 0}, {0, 4, 9}, {64, 16, 28 * 28}}) {
    SCOPED_TRACE(fmt::format("n={} c={} hw={}", n, c, hw));
    const auto y0 = random_vector(n * c * hw, gen), bias = random_vector(c, gen);
    std::vector<float> want = y0, got = y0;
    kernels::reference::add_channel_bias(n, c, hw, bias.data(), want.data());
    kernels::simd::add_channel_bias(n, c, hw, bias.data(), got.data());
    expect_identical(got, want, "add_channel_bias");

    std::vector<float> want_gb(static_cast<size_t>(c), 5.0f), got_gb = want_gb;
    kernels::reference::channel_sum(n, c, hw, y0.data(), want_gb.data());
    kernels::simd::channel_sum(n, c, hw, y0.data(), got_gb.data());
    const double values = static_cast<double>(n * hw);
    for (size_t k = 0; k < got_gb.size(); ++k)
      ASSERT_LE(std::fabs(got_gb[k] - want_gb[k]), values * values * std::ldexp(1.0, -23))
          << "channel " << k;
  }
}

// Indices with repeats (every row of a small table many times, as characters in a text), on one
// thread and on several: the gradient's rows add in the reference's order.
TEST(FastEmbeddingKernels, EqualReference) {
  Generator gen(35);
  for (const auto& size : std::vector<std::array<int64_t, 3>>{
           {7, 5, 3}, {65, 64 * 64, 33}, {1, 9000, 8}, {10, 0, 4}, {300, 777, 64}}) {
    const int64_t num = size[0], count = size[1], dim = size[2];
    SCOPED_TRACE(fmt::format("num={} count={} dim={}", num, count, dim));
    std::vector<int64_t> index(static_cast<size_t>(count));
    for (int64_t& i : index)
      i = std::min(num - 1, static_cast<int64_t>(gen.uniform(0, 1) * static_cast<float>(num)));
    const auto weight = random_vector(num * dim, gen), gy = random_vector(count * dim, gen);

    std::vector<float> want(static_cast<size_t>(count * dim), 5.0f), got = want;
    kernels::reference::embedding_forward(count, dim, index.data(), weight.data(), want.data());
    kernels::simd::embedding_forward(count, dim, index.data(), weight.data(), got.data());
    expect_identical(got, want, "embedding forward");

    std::vector<float> want_gw(static_cast<size_t>(num * dim), 0.0f);
    kernels::reference::embedding_backward(count, dim, index.data(), gy.data(), want_gw.data());
    for (int threads : {1, 2, 3}) {
      SCOPED_TRACE(fmt::format("{} threads", threads));
      std::vector<float> got_gw(want_gw.size(), 0.0f);
      with_threads(threads, [&] {
        kernels::simd::embedding_backward(count, dim, index.data(), gy.data(), got_gw.data());
      });
      expect_identical(got_gw, want_gw, "embedding backward");
    }
  }
}

}  // namespace
}  // namespace bp
