// The fast softmax, log-softmax, layer norm and batch norm kernels agree with the reference kernels
// within the bounds stated below, forward and backward.
#include <cfloat>
#include <cmath>

#include "kernels/norm.hpp"
#include "test_util.hpp"

namespace bp {
namespace {

std::vector<float> uniform(int64_t n, float lo, float hi, Generator& gen) {
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = gen.uniform(lo, hi);
  return v;
}

// Asserts |got - want| <= abs + rel·|want| elementwise, and records the worst error over the bound.
void expect_within(const std::vector<float>& got, const std::vector<float>& want, double abs,
                   double rel, const char* what) {
  ASSERT_EQ(got.size(), want.size());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - want[i]);
    const double bound = abs + rel * std::fabs(static_cast<double>(want[i]));
    worst = std::max(worst, err / bound);
    ASSERT_LE(err, bound) << what << " at " << i << ": fast " << got[i] << ", reference "
                          << want[i];
  }
  ::testing::Test::RecordProperty(std::string("worst_") + what, std::to_string(worst));
}

// Softmax: within 1e-6 + 1e-5·|reference| forward and backward (a few units in the last place
// of values of order 1, and the float sums of up to a thousand classes). Log-softmax's forward
// subtracts a log-sum-exp of the size of the inputs, so its bound adds 4 units in the last place
// of the largest |x|.
constexpr double kSoftmaxAbs = 1e-6, kSoftmaxRel = 1e-5, kLogSoftmaxUlps = 4;

TEST(FastKernels, SoftmaxMatchesReferenceWithinTheStatedBound) {
  Generator gen(31);
  constexpr float kRange = 20.0f;  // inputs in [-kRange, kRange]
  const std::pair<int64_t, int64_t> shapes[] = {{1, 1},    {3, 10},   {32, 10},
                                                {64, 100}, {7, 1000}, {256, 17}};
  for (auto [rows, cols] : shapes)
    for (bool log : {false, true}) {
      SCOPED_TRACE(fmt::format("rows={} cols={} log={}", rows, cols, log));
      const int64_t n = rows * cols;
      std::vector<float> x = uniform(n, -kRange, kRange, gen), gy = uniform(n, -1.0f, 1.0f, gen);
      std::vector<float> y_ref(x.size()), y(x.size()), gx_ref(x.size()), gx(x.size());
      kernels::reference::softmax_forward(log, rows, cols, 1, x.data(), y_ref.data());
      ASSERT_TRUE(kernels::onednn::softmax_forward(log, rows, cols, 1, x.data(), y.data()));
      const double abs = log ? kSoftmaxAbs + kLogSoftmaxUlps * FLT_EPSILON * kRange : kSoftmaxAbs;
      expect_within(y, y_ref, abs, kSoftmaxRel, "forward");
      kernels::reference::softmax_backward(log, rows, cols, 1, y_ref.data(), gy.data(),
                                           gx_ref.data());
      ASSERT_TRUE(kernels::onednn::softmax_backward(log, rows, cols, 1, y_ref.data(), gy.data(),
                                                    gx.data()));
      expect_within(gx, gx_ref, kSoftmaxAbs, kSoftmaxRel, "backward");
    }
}

TEST(FastKernels, SoftmaxOverAStridedAxisIsLeftToTheReference) {
  std::vector<float> x(24, 1.0f), y(24, -1.0f);
  EXPECT_FALSE(kernels::onednn::softmax_forward(false, 2, 3, 4, x.data(), y.data()));
  EXPECT_FALSE(kernels::onednn::softmax_backward(true, 2, 3, 4, x.data(), x.data(), y.data()));
  EXPECT_EQ(y[0], -1.0f);
}

// Layer norm (float statistics where the reference keeps double): y, mean and rstd within
// 2e-6 + 2e-6·|reference|; gx the same, and the parameter gradients, sums over the rows, within
// (2e-6 + 2e-6·|reference|)·rows.
constexpr double kLayerNormAbs = 2e-6, kLayerNormRel = 2e-6;

struct LayerNormCase {
  int64_t rows, cols;
  bool gamma, beta;
};

void check_layer_norm(const LayerNormCase& c, Generator& gen) {
  const int64_t n = c.rows * c.cols;
  const float eps = 1e-5f;
  std::vector<float> x = uniform(n, -3.0f, 5.0f, gen), gy = uniform(n, -1.0f, 1.0f, gen);
  std::vector<float> gamma = uniform(c.cols, 0.5f, 1.5f, gen), beta = uniform(c.cols, -1, 1, gen);
  const float* g = c.gamma ? gamma.data() : nullptr;
  const float* b = c.beta ? beta.data() : nullptr;
  const auto rows = static_cast<size_t>(c.rows), cols = static_cast<size_t>(c.cols);
  std::vector<float> y_ref(x.size()), y(x.size()), mean_ref(rows), mean(rows), rstd_ref(rows),
      rstd(rows);
  kernels::reference::layer_norm_forward(c.rows, c.cols, x.data(), g, b, eps, y_ref.data(),
                                         mean_ref.data(), rstd_ref.data());
  ASSERT_TRUE(kernels::onednn::layer_norm_forward(c.rows, c.cols, x.data(), g, b, eps, y.data(),
                                                  mean.data(), rstd.data()));
  expect_within(y, y_ref, kLayerNormAbs, kLayerNormRel, "y");
  expect_within(mean, mean_ref, kLayerNormAbs, kLayerNormRel, "mean");
  expect_within(rstd, rstd_ref, kLayerNormAbs, kLayerNormRel, "rstd");

  std::vector<float> gx_ref(x.size()), gx(x.size()), gg_ref(cols), gg(cols), gb_ref(cols), gb(cols);
  float* want_g = c.gamma ? gg.data() : nullptr;
  float* want_b = c.beta ? gb.data() : nullptr;
  kernels::reference::layer_norm_backward(
      c.rows, c.cols, x.data(), mean_ref.data(), rstd_ref.data(), g, gy.data(), gx_ref.data(),
      want_g ? gg_ref.data() : nullptr, want_b ? gb_ref.data() : nullptr);
  ASSERT_TRUE(kernels::onednn::layer_norm_backward(c.rows, c.cols, x.data(), mean_ref.data(),
                                                   rstd_ref.data(), g, gy.data(), gx.data(), want_g,
                                                   want_b));
  expect_within(gx, gx_ref, kLayerNormAbs, kLayerNormRel, "gx");
  const double over_rows = static_cast<double>(c.rows);
  if (want_g) expect_within(gg, gg_ref, kLayerNormAbs * over_rows, kLayerNormRel * over_rows, "gg");
  if (want_b) expect_within(gb, gb_ref, kLayerNormAbs * over_rows, kLayerNormRel * over_rows, "gb");
}

TEST(FastKernels, LayerNormMatchesReferenceWithinTheStatedBound) {
  Generator gen(32);
  const LayerNormCase cases[] = {
      {1, 1, true, true},     {1, 5, false, false},  {32, 64, true, true}, {64, 256, true, false},
      {64, 256, false, true}, {7, 1000, true, true}, {256, 10, true, true}};
  for (const LayerNormCase& c : cases) {
    SCOPED_TRACE(fmt::format("rows={} cols={} gamma={} beta={}", c.rows, c.cols, c.gamma, c.beta));
    check_layer_norm(c, gen);
  }
}

TEST(FastKernels, LayerNormBackwardWithoutInputGradientIsLeftToTheReference) {
  std::vector<float> x(8, 1.0f), stats(2, 1.0f), g(4, -1.0f);
  EXPECT_FALSE(kernels::onednn::layer_norm_backward(2, 4, x.data(), stats.data(), stats.data(),
                                                    nullptr, x.data(), nullptr, g.data(), nullptr));
  EXPECT_EQ(g[0], -1.0f);
}

// Batch norm: the per-channel sums within a relative 1e-6 of the sum of the terms' magnitudes
// (float stretches of at most 256 values, added in double), and gx within 1e-5 of the largest of
// its terms, for the layouts the kernels treat differently: one value per row (inner = 1, more
// rows than a stretch), short runs, and runs longer than a stretch.
TEST(FastKernels, BatchNormMatchesReferenceWithinTheStatedBound) {
  Generator gen(41);
  struct Case {
    int64_t n, c, inner;
  };
  for (const Case& k : {Case{300, 12, 1}, Case{5, 3, 17}, Case{4, 6, 676}, Case{2, 3, 1000}}) {
    SCOPED_TRACE(fmt::format("n {} c {} inner {}", k.n, k.c, k.inner));
    const int64_t count = k.n * k.c * k.inner, cs = k.c;
    const std::vector<float> x = uniform(count, -3.0f, 5.0f, gen), gy = uniform(count, -1, 1, gen);
    const std::vector<float> gamma = uniform(cs, 0.5f, 2.0f, gen);
    std::vector<double> sum_ref(cs), sum(cs), abs_sum(cs);
    kernels::reference::batch_norm_sum(k.n, k.c, k.inner, x.data(), nullptr, sum_ref.data());
    kernels::simd::batch_norm_sum(k.n, k.c, k.inner, x.data(), nullptr, sum.data());
    std::vector<float> xa(x.size());
    for (size_t i = 0; i < x.size(); ++i) xa[i] = std::fabs(x[i]);
    kernels::reference::batch_norm_sum(k.n, k.c, k.inner, xa.data(), nullptr, abs_sum.data());
    std::vector<double> mean(cs);
    std::vector<float> mean_f(cs), var_f(cs);
    const auto m = static_cast<double>(k.n * k.inner);
    for (int64_t ch = 0; ch < cs; ++ch) {
      EXPECT_NEAR(sum[ch], sum_ref[ch], 1e-6 * abs_sum[ch]) << "sum, channel " << ch;
      mean[ch] = sum_ref[ch] / m;
      mean_f[ch] = static_cast<float>(mean[ch]);
    }
    kernels::reference::batch_norm_sum(k.n, k.c, k.inner, x.data(), mean.data(), sum_ref.data());
    kernels::simd::batch_norm_sum(k.n, k.c, k.inner, x.data(), mean.data(), sum.data());
    for (int64_t ch = 0; ch < cs; ++ch) {
      EXPECT_NEAR(sum[ch], sum_ref[ch], 1e-6 * sum_ref[ch]) << "squares, channel " << ch;
      var_f[ch] = static_cast<float>(sum_ref[ch] / m);
    }
    const std::vector<float> beta = uniform(cs, -1.0f, 1.0f, gen);
    std::vector<float> y_ref(x.size()), y(x.size());
    kernels::reference::batch_norm_forward(k.n, k.c, k.inner, x.data(), mean_f.data(), var_f.data(),
                                           gamma.data(), beta.data(), 1e-5f, y_ref.data());
    kernels::simd::batch_norm_forward(k.n, k.c, k.inner, x.data(), mean_f.data(), var_f.data(),
                                      gamma.data(), beta.data(), 1e-5f, y.data());
    expect_within(y, y_ref, 1e-5, 1e-5, "batch norm y");
    std::vector<double> grad_ref(2 * cs), grad(2 * cs);
    kernels::reference::batch_norm_grad_sums(k.n, k.c, k.inner, x.data(), mean_f.data(),
                                             var_f.data(), 1e-5f, gy.data(), grad_ref.data());
    kernels::simd::batch_norm_grad_sums(k.n, k.c, k.inner, x.data(), mean_f.data(), var_f.data(),
                                        1e-5f, gy.data(), grad.data());
    // Σ|gy|·(|x| + |mean|)/σ bounds the magnitudes of the terms of either sum.
    for (int64_t ch = 0; ch < 2 * cs; ++ch)
      EXPECT_NEAR(grad[ch], grad_ref[ch], 1e-6 * m * 8 / std::sqrt(var_f[ch % cs]) + 1e-6 * m)
          << "gradient sum " << ch;
    for (const double* sums :
         {static_cast<const double*>(grad_ref.data()), static_cast<const double*>(nullptr)}) {
      std::vector<float> gx_ref(x.size()), gx(x.size());
      kernels::reference::batch_norm_backward(k.n, k.c, k.inner, x.data(), mean_f.data(),
                                              var_f.data(), gamma.data(), 1e-5f, gy.data(), sums, m,
                                              gx_ref.data());
      kernels::simd::batch_norm_backward(k.n, k.c, k.inner, x.data(), mean_f.data(), var_f.data(),
                                         gamma.data(), 1e-5f, gy.data(), sums, m, gx.data());
      expect_within(gx, gx_ref, 1e-5, 1e-5, sums ? "batch norm gx" : "batch norm gx, fixed");
    }
  }
}

// Dropout: the vector kernel is the reference's loop, so masks and outputs are equal, for any
// start in the stream and a length with a vector tail.
TEST(FastKernels, DropoutEqualsReference) {
  Generator gen(43);
  const int64_t n = 1037;
  const std::vector<float> x = uniform(n, -1, 1, gen);
  for (const float p : {0.1f, 0.5f, 0.9f}) {
    std::vector<float> y_ref(x.size()), mask_ref(x.size()), y(x.size()), mask(x.size());
    kernels::reference::dropout_forward(p, 0x1234567890abcdefULL, (int64_t{1} << 33) + 5, x.data(),
                                        y_ref.data(), mask_ref.data(), n);
    kernels::simd::dropout_forward(p, 0x1234567890abcdefULL, (int64_t{1} << 33) + 5, x.data(),
                                   y.data(), mask.data(), n);
    EXPECT_EQ(y, y_ref) << "p " << p;
    EXPECT_EQ(mask, mask_ref) << "p " << p;
  }
}

}  // namespace
}  // namespace bp
