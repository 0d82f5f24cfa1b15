// The fast kernels must agree with the reference kernels, which define what each kernel computes.
#include <cmath>

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
    nn::Sequential net({std::make_shared<nn::Linear>(20, 16, true, gen), nn::ReLU(),
                        std::make_shared<nn::Linear>(16, 4, true, gen)});
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

}  // namespace
}  // namespace bp
