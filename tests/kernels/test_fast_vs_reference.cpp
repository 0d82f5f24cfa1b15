// The fast kernels must agree with the reference kernels, which define what each kernel computes.
#include <cmath>
#include <limits>

#include "kernels/kernels.hpp"
#include "test_util.hpp"

namespace bp {
namespace {

// Restores the backend a test changed.
struct BackendScope {
  Backend saved = backend();
  explicit BackendScope(Backend b) { set_backend(b); }
  ~BackendScope() { set_backend(saved); }
};

TEST(FastKernels, GemmMatchesReferenceOnRandomShapes) {
  Generator gen(11);
  const std::vector<std::array<int64_t, 3>> shapes = {{1, 1, 1},  {1, 10, 300}, {64, 96, 130},
                                                      {7, 13, 5}, {33, 65, 17}, {3, 200, 1}};
  for (auto [m, n, k] : shapes)
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (auto [alpha, beta] : {std::pair{1.0f, 0.0f}, {1.0f, 1.0f}, {0.25f, 0.5f}}) {
          SCOPED_TRACE(fmt::format("m={} n={} k={} ta={} tb={} alpha={} beta={}", m, n, k, ta, tb,
                                   alpha, beta));
          // Leading dimensions larger than the rows exercise strided operands.
          const int64_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 1;
          std::vector<float> a(static_cast<size_t>((ta ? k : m) * lda)),
              b(static_cast<size_t>((tb ? n : k) * ldb)), c(static_cast<size_t>(m * ldc));
          for (float& v : a) v = gen.uniform(-1, 1);
          for (float& v : b) v = gen.uniform(-1, 1);
          for (float& v : c) v = gen.uniform(-1, 1);
          std::vector<float> expected = c, got = c;
          kernels::reference::gemm(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta,
                                   expected.data(), ldc);
          kernels::onednn::gemm(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta,
                                got.data(), ldc);
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
              const auto at = static_cast<size_t>(i * ldc + j);
              ASSERT_NEAR(got[at], expected[at], 1e-4 * static_cast<double>(k) + 1e-5)
                  << "at " << i << "," << j;
            }
          // Padding columns beyond n are never written.
          for (int64_t i = 0; i < m; ++i)
            EXPECT_EQ(got[static_cast<size_t>(i * ldc + n)], c[static_cast<size_t>(i * ldc + n)]);
        }
}

// A batch of products in one call: every side with its own matrices or one for all (stride 0),
// transposed or not, with padded leading dimensions and gaps between the batch's matrices.
TEST(FastKernels, GemmBatchMatchesReference) {
  Generator gen(13);
  const int64_t batch = 5, m = 7, n = 9, k = 6;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (bool share_a : {false, true})
        for (bool share_b : {false, true}) {
          SCOPED_TRACE(fmt::format("ta={} tb={} share_a={} share_b={}", ta, tb, share_a, share_b));
          const int64_t lda = (ta ? m : k) + 1, ldb = (tb ? k : n) + 2, ldc = n + 3;
          const int64_t stride_a = share_a ? 0 : (ta ? k : m) * lda + 4;
          const int64_t stride_b = share_b ? 0 : (tb ? n : k) * ldb + 1;
          const int64_t stride_c = m * ldc + 2;
          std::vector<float> a(static_cast<size_t>(batch * ((ta ? k : m) * lda + 4))),
              b(static_cast<size_t>(batch * ((tb ? n : k) * ldb + 1))),
              c(static_cast<size_t>(batch * stride_c));
          for (auto* v : {&a, &b, &c})
            for (float& x : *v) x = gen.uniform(-1, 1);
          std::vector<float> expected = c, got = c;
          kernels::reference::gemm_batch(batch, ta, tb, m, n, k, 0.5f, a.data(), lda, stride_a,
                                         b.data(), ldb, stride_b, 0.25f, expected.data(), ldc,
                                         stride_c);
          kernels::onednn::gemm_batch(batch, ta, tb, m, n, k, 0.5f, a.data(), lda, stride_a,
                                      b.data(), ldb, stride_b, 0.25f, got.data(), ldc, stride_c);
          for (size_t i = 0; i < got.size(); ++i)
            ASSERT_NEAR(got[i], expected[i], 1e-5) << "at " << i;  // padding included: untouched
          // In bf16 (operands rounded to 8 bits of mantissa, |a|, |b| <= 1): within 2⁻⁸·k.
          const PrecisionGuard bf16(Precision::bf16);
          std::vector<float> got_bf16 = c;
          kernels::onednn::gemm_batch(batch, ta, tb, m, n, k, 0.5f, a.data(), lda, stride_a,
                                      b.data(), ldb, stride_b, 0.25f, got_bf16.data(), ldc,
                                      stride_c);
          for (size_t i = 0; i < got.size(); ++i)
            ASSERT_NEAR(got_bf16[i], expected[i], std::ldexp(1.0, -8) * k) << "bf16 at " << i;
        }
}

TEST(FastKernels, GemvMatchesReference) {
  if (!kernels::simd::gemv_supported()) GTEST_SKIP() << "this CPU has no AVX-512F";
  Generator gen(12);
  // n below, at and above the 4-row and 64-column blocks; k with and without a 16-wide tail.
  for (int64_t n : {1, 3, 4, 17, 64, 65, 256})
    for (int64_t k : {1, 15, 16, 33, 784})
      for (bool ta : {false, true})
        for (bool tb : {false, true})
          for (auto [alpha, beta] : {std::pair{1.0f, 0.0f}, {0.5f, 1.0f}, {2.0f, -0.25f}}) {
            SCOPED_TRACE(
                fmt::format("n={} k={} ta={} tb={} alpha={} beta={}", n, k, ta, tb, alpha, beta));
            const int64_t lda = ta ? 3 : k, ldb = (tb ? k : n) + 5;
            std::vector<float> a(static_cast<size_t>(ta ? k * lda : k)),
                b(static_cast<size_t>((tb ? n : k) * ldb)), c(static_cast<size_t>(n + 1));
            for (float& v : a) v = gen.uniform(-1, 1);
            for (float& v : b) v = gen.uniform(-1, 1);
            for (float& v : c) v = gen.uniform(-1, 1);
            if (beta == 0.0f) std::fill(c.begin(), c.end(), std::nanf(""));  // must not be read
            std::vector<float> expected = c, got = c;
            kernels::reference::gemm(ta, tb, 1, n, k, alpha, a.data(), lda, b.data(), ldb, beta,
                                     expected.data(), n);
            ASSERT_TRUE(kernels::simd::gemv(ta, tb, n, k, alpha, a.data(), lda, b.data(), ldb, beta,
                                            got.data()));
            for (int64_t j = 0; j < n; ++j)
              ASSERT_NEAR(got[static_cast<size_t>(j)], expected[static_cast<size_t>(j)],
                          1e-4 * static_cast<double>(k) + 1e-5)
                  << "at " << j;
            if (beta != 0.0f) {
              EXPECT_EQ(got[static_cast<size_t>(n)], c[static_cast<size_t>(n)]);
            }
          }
}

TEST(FastKernels, TrainingStepAgreesAcrossBackends) {
  auto run = [](Backend b) {
    BackendScope scope(b);
    Generator gen(5);
    nn::Sequential net({std::make_shared<nn::Linear>(20, 16, gen), std::make_shared<nn::ReLU>(),
                        std::make_shared<nn::Linear>(16, 4, gen)});
    Tensor x = Tensor::uniform({9, 20}, -1, 1, gen);
    std::vector<int64_t> y{0, 1, 2, 3, 0, 1, 2, 3, 0};
    optim::SGD sgd(net.parameters(), {.lr = 0.1f, .momentum = 0.9f});
    for (int step = 0; step < 5; ++step) {
      sgd.zero_grad();
      cross_entropy(net(x), y).backward();
      sgd.step();
    }
    return net.parameters();
  };
  auto fast = run(Backend::fast), reference = run(Backend::reference);
  ASSERT_EQ(fast.size(), reference.size());
  for (size_t i = 0; i < fast.size(); ++i)
    EXPECT_TRUE(allclose(fast[i], reference[i], 1e-4f, 1e-5f)) << "parameter " << i;
}

TEST(FastKernels, BackendIsSelectableAtRunTime) {
  BackendScope scope(Backend::reference);
  EXPECT_EQ(backend(), Backend::reference);
  set_backend(Backend::fast);
  EXPECT_EQ(backend(), Backend::fast);
}

// Inputs for an elementwise function: uniform over its interesting range, plus the kinks, zero
// and values where the formulas switch branches or saturate.
std::vector<float> eltwise_inputs(kernels::Unary op, Generator& gen, int64_t n) {
  const bool positive = op == kernels::Unary::log;
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = positive ? gen.uniform(1e-3f, 50.0f) : gen.uniform(-12.0f, 12.0f);
  constexpr float inf = std::numeric_limits<float>::infinity();
  const float special[] = {0.0f,   -3.0f,  3.0f,   20.0f,  -20.0f,
                           30.0f,  -30.0f, 80.0f,  -80.0f, 1e-8f,
                           -1e-8f, 88.5f,  -88.5f, 100.0f, -100.0f,
                           0.5f,   -0.5f,  inf,    -inf,   std::numeric_limits<float>::quiet_NaN()};
  for (size_t i = 0; i < std::size(special); ++i)
    x[i] = positive ? std::fabs(special[i]) + 1e-3f : special[i];
  return x;
}

// The fast elementwise kernels agree with the reference to within kEltwiseAbs + kEltwiseRel·|ref|,
// forward and backward, for every function they take (the bound docs/performance.md states).
constexpr double kEltwiseAbs = 1e-6, kEltwiseRel = 1e-5;

void expect_close(const std::vector<float>& got, const std::vector<float>& want,
                  const std::vector<float>& x) {
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(want[i])) {  // NaN where the reference has NaN, the same infinity
      ASSERT_TRUE(std::isnan(want[i]) ? std::isnan(got[i]) : got[i] == want[i])
          << "x = " << x[i] << ": fast " << got[i] << ", reference " << want[i];
      continue;
    }
    const double err = std::fabs(static_cast<double>(got[i]) - want[i]);
    const double bound = kEltwiseAbs + kEltwiseRel * std::fabs(static_cast<double>(want[i]));
    worst = std::max(worst, err / bound);
    ASSERT_LE(err, bound) << "x = " << x[i] << ": fast " << got[i] << ", reference " << want[i];
  }
  ::testing::Test::RecordProperty("worst_error_over_bound", std::to_string(worst));
}

TEST(FastKernels, EltwiseMatchesReferenceWithinTheStatedBound) {
  using kernels::Unary;
  Generator gen(21);
  int covered = 0;
  for (const int64_t n : {int64_t{5000}, int64_t{37}}) {  // vectors and their tail
    const Unary ops[] = {
#define BP_UNARY(name, ...) Unary::name,
        BP_MATH_FUNCTIONS(BP_UNARY) BP_ACTIVATIONS(BP_UNARY, BP_UNARY)
#undef BP_UNARY
    };
    for (Unary op : ops)
      for (float alpha : {1.0f, 0.2f}) {
        SCOPED_TRACE(fmt::format("function {} alpha {}", static_cast<int>(op), alpha));
        const float beta = op == Unary::clamp ? 2.0f : 0.0f;
        std::vector<float> x = eltwise_inputs(op, gen, n), y_ref(x.size()), y(x.size());
        kernels::reference::unary_forward(op, alpha, beta, x.data(), y_ref.data(), n);
        if (kernels::simd::unary_forward(op, alpha, beta, x.data(), y.data(), n)) {
          ++covered;
          expect_close(y, y_ref, x);
        }
        std::vector<float> gy(x.size()), gx_ref(x.size()), gx(x.size());
        for (float& v : gy) v = gen.uniform(-2.0f, 2.0f);
        kernels::reference::unary_backward(op, alpha, beta, x.data(), y_ref.data(), gy.data(),
                                           gx_ref.data(), n);
        if (kernels::simd::unary_backward(op, alpha, beta, x.data(), y_ref.data(), gy.data(),
                                          gx.data(), n)) {
          ++covered;
          expect_close(gx, gx_ref, x);
        }
      }
  }
  // Every activation and exp, both directions, for both parameters and both lengths.
  EXPECT_EQ(covered, 2 * 2 * 2 * (static_cast<int>(activations().size()) + 1));
}

}  // namespace
}  // namespace bp
