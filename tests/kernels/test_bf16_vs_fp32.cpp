// Under bf16 precision the oneDNN matrix multiply and convolution kernels round their operands to
// bfloat16 (8-bit mantissa: a relative error of at most 2^-8 each) and accumulate in fp32. Each
// kernel is compared with the fp32 reference within the bound that follows, 2·2^-8 per product
// of two operands in [-1, 1] summed over the reduction length L: |error| <= L·2^-7. On operands
// that bfloat16 holds exactly the results must match fp32, which only fp32 accumulation gives.
#include <bit>
#include <cmath>
#include <limits>

#include "kernels/conv.hpp"
#include "test_util.hpp"

namespace bp {
namespace {

constexpr double kBf16ProductError = 1.0 / 128;  // 2·2^-8, for operands in [-1, 1]

std::vector<float> random_vector(int64_t n, Generator& gen) {
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = gen.uniform(-1, 1);
  return v;
}

// Multiples of 1/16 in [-1, 1]: exact in bfloat16, and so are their products and short sums.
std::vector<float> bf16_exact_vector(int64_t n, Generator& gen) {
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = static_cast<float>(static_cast<int>(gen.below(33)) - 16) / 16.0f;
  return v;
}

// Checks |got - want| <= bound everywhere; returns the largest difference.
double check_within(const std::vector<float>& got, const std::vector<float>& want, double bound,
                    const char* what) {
  EXPECT_EQ(got.size(), want.size()) << what;
  double worst = 0;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    const double d = std::fabs(static_cast<double>(got[i]) - want[i]);
    EXPECT_LE(d, bound) << what << " at " << i;
    worst = std::max(worst, d);
  }
  return worst;
}

TEST(Bf16Kernels, GemmWithinTheBf16BoundOfFp32) {
  const PrecisionGuard bf16(Precision::bf16);
  Generator gen(5);
  const std::vector<std::array<int64_t, 3>> shapes = {
      {64, 96, 130}, {7, 13, 5}, {33, 65, 784}, {128, 10, 256}, {2, 3, 1}};
  for (auto [m, n, k] : shapes)
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        SCOPED_TRACE(fmt::format("m={} n={} k={} ta={} tb={}", m, n, k, ta, tb));
        const int64_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2;
        auto a = random_vector((ta ? k : m) * lda, gen), b = random_vector((tb ? n : k) * ldb, gen);
        auto c = random_vector(m * n, gen);
        std::vector<float> want = c, got = c;
        // C = 0.5·A·B + 0.25·C: the scaling and the sum with C stay fp32.
        kernels::reference::gemm(ta, tb, m, n, k, 0.5f, a.data(), lda, b.data(), ldb, 0.25f,
                                 want.data(), n);
        kernels::onednn::gemm(ta, tb, m, n, k, 0.5f, a.data(), lda, b.data(), ldb, 0.25f,
                              got.data(), n);
        const double worst = check_within(
            got, want, 0.5 * kBf16ProductError * static_cast<double>(k) + 1e-5, "bf16 gemm");
        // The products really ran in bf16 (on a CPU where oneDNN has bf16 matmul).
        if (bf16_native() && k >= 16) {
          EXPECT_GT(worst, 1e-4);
        }

        auto ea = bf16_exact_vector((ta ? k : m) * lda, gen);
        auto eb = bf16_exact_vector((tb ? n : k) * ldb, gen);
        kernels::reference::gemm(ta, tb, m, n, k, 1, ea.data(), lda, eb.data(), ldb, 0, want.data(),
                                 n);
        kernels::onednn::gemm(ta, tb, m, n, k, 1, ea.data(), lda, eb.data(), ldb, 0, got.data(), n);
        check_within(got, want, 1e-6 * static_cast<double>(k), "bf16 gemm on exact operands");
      }
}

float from_bf16(uint16_t h) {
  return std::bit_cast<float>(static_cast<uint32_t>(h) << 16);
}

// The conversion that bf16 products read their operands through: round to nearest, ties to even;
// the fast one gives the reference's bits (normal values: the hardware may flush denormals).
TEST(Bf16Kernels, ToBf16RoundsToNearestEvenAsTheReference) {
  const float inf = std::numeric_limits<float>::infinity();
  const float tie_down = 1.0f + std::ldexp(1.0f, -8);    // halfway to the next bf16: stays 1
  const float tie_up = 1.0f + 3 * std::ldexp(1.0f, -8);  // halfway, odd below: rounds up
  const float above = 1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20);  // past halfway
  std::vector<float> x = {0.0f,  -0.0f, 1.0f, tie_down, tie_up,
                          above, inf,   -inf, 3.4e38f,  std::numeric_limits<float>::quiet_NaN()};
  Generator gen(11);
  for (int i = 0; i < 1000; ++i) x.push_back(gen.uniform(-1, 1) * std::ldexp(1.0f, i % 60 - 30));
  const auto n = static_cast<int64_t>(x.size());
  std::vector<uint16_t> want(x.size()), got(x.size());
  kernels::reference::to_bf16(x.data(), want.data(), n);
  kernels::onednn::to_bf16(x.data(), got.data(), n);
  EXPECT_EQ(got, want);
  EXPECT_EQ(from_bf16(want[3]), 1.0f);
  EXPECT_EQ(from_bf16(want[4]), 1.0f + 4 * std::ldexp(1.0f, -8));
  EXPECT_EQ(from_bf16(want[5]), 1.0f + 2 * std::ldexp(1.0f, -8));
  EXPECT_EQ(from_bf16(want[6]), inf);
  EXPECT_EQ(from_bf16(want[8]), inf);  // beyond bf16's largest finite value
  EXPECT_TRUE(std::isnan(from_bf16(want[9])));
  for (size_t i = 10; i < x.size(); ++i)
    ASSERT_NEAR(from_bf16(want[i]), x[i], std::fabs(x[i]) * std::ldexp(1.0, -8)) << "at " << i;
}

int64_t out_extent(int64_t in, int64_t k, int64_t stride, int64_t pad) {
  return (in + 2 * pad - (k - 1) - 1) / stride + 1;
}

kernels::ConvShape conv_shape(int64_t n, int64_t c_in, int64_t hw, int64_t c_out, int64_t k,
                              int64_t stride, int64_t pad, int64_t groups) {
  const int64_t o = out_extent(hw, k, stride, pad);
  return {.n = n,
          .c_in = c_in,
          .h = hw,
          .w = hw,
          .c_out = c_out,
          .kh = k,
          .kw = k,
          .oh = o,
          .ow = o,
          .stride_h = stride,
          .stride_w = stride,
          .pad_h = pad,
          .pad_w = pad,
          .groups = groups};
}

// The three convolution kernels on (x, w, gy), bf16 against the fp32 reference, each within
// L·per_product (+1e-5) for its reduction length L. Returns the largest difference seen.
double compare_conv(const kernels::ConvShape& s, const std::vector<float>& x,
                    const std::vector<float>& w, const std::vector<float>& gy, double per_product) {
  const double slack = 1e-5;
  const auto x_n = x.size(), w_n = w.size(), y_n = gy.size();
  const auto per_group = [&](int64_t c) { return static_cast<double>(c / s.groups * s.kh * s.kw); };
  double worst = 0;
  std::vector<float> want(y_n), got(y_n, 99.0f);
  kernels::reference::conv2d_forward(s, x.data(), w.data(), nullptr, want.data());
  EXPECT_TRUE(kernels::onednn::conv2d_forward(s, x.data(), w.data(), nullptr, got.data()));
  worst =
      std::max(worst, check_within(got, want, per_product * per_group(s.c_in) + slack, "forward"));
  want.assign(x_n, 0), got.assign(x_n, 99.0f);
  kernels::reference::conv2d_backward_data(s, gy.data(), w.data(), want.data());
  EXPECT_TRUE(kernels::onednn::conv2d_backward_data(s, gy.data(), w.data(), got.data()));
  worst = std::max(
      worst, check_within(got, want, per_product * per_group(s.c_out) + slack, "backward data"));
  want.assign(w_n, 0), got.assign(w_n, 99.0f);
  std::vector<float> want_b(static_cast<size_t>(s.c_out)), got_b(want_b.size(), 99.0f);
  kernels::reference::conv2d_backward_weights(s, x.data(), gy.data(), want.data(), want_b.data());
  EXPECT_TRUE(
      kernels::onednn::conv2d_backward_weights(s, x.data(), gy.data(), got.data(), got_b.data()));
  const double positions = static_cast<double>(s.n * s.oh * s.ow);
  worst =
      std::max(worst, check_within(got, want, per_product * positions + slack, "backward weights"));
  // The bias gradient sums the same bf16 copy of gy: one rounding per term, 2^-8 each.
  check_within(got_b, want_b, per_product / 2 * positions + slack, "backward bias");
  return worst;
}

TEST(Bf16Kernels, ConvolutionWithinTheBf16BoundOfFp32) {
  const PrecisionGuard bf16(Precision::bf16);
  Generator gen(9);
  for (const kernels::ConvShape& s :
       {conv_shape(8, 1, 28, 32, 3, 1, 0, 1), conv_shape(7, 32, 13, 64, 3, 1, 1, 1),
        conv_shape(3, 6, 9, 6, 3, 2, 1, 3)}) {
    SCOPED_TRACE(fmt::format("n={} c_in={} {}x{} c_out={} k={} stride={} groups={}", s.n, s.c_in,
                             s.h, s.w, s.c_out, s.kh, s.stride_h, s.groups));
    const int64_t x_n = s.n * s.c_in * s.h * s.w, y_n = s.n * s.c_out * s.oh * s.ow;
    const int64_t w_n = s.c_out * (s.c_in / s.groups) * s.kh * s.kw;
    const double worst = compare_conv(s, random_vector(x_n, gen), random_vector(w_n, gen),
                                      random_vector(y_n, gen), kBf16ProductError);
    if (bf16_native()) {
      EXPECT_GT(worst, 1e-4) << "the products ran in fp32";
    }
    // Exact operands: only fp32 accumulation's rounding remains.
    compare_conv(s, bf16_exact_vector(x_n, gen), bf16_exact_vector(w_n, gen),
                 bf16_exact_vector(y_n, gen), 1e-6);
  }
}

}  // namespace
}  // namespace bp
