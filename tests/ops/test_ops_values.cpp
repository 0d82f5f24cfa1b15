// Forward values of every op family against hand-computed results or formulas evaluated in double,
// and every error path.
#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace bp {
namespace {

using bp::testing::expect_error;

// Checks the shape and every value: |got - want| <= atol + rtol·|want|.
void expect_values(const Tensor& t, const Shape& shape, const std::vector<double>& want,
                   double atol = 1e-6, double rtol = 1e-6) {
  ASSERT_TRUE(t.defined());
  ASSERT_EQ(t.shape(), shape);
  ASSERT_EQ(static_cast<size_t>(t.numel()), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const double got = t.data()[i];
    EXPECT_LE(std::fabs(got - want[i]), atol + rtol * std::fabs(want[i]))
        << "element " << i << ": got " << got << ", want " << want[i];
  }
}

// Expects bp::Error whose message contains every one of `needles`.
void expect_error_all(const std::function<void()>& fn, std::initializer_list<std::string> needles) {
  for (const std::string& n : needles) expect_error(fn, n);
}

std::vector<double> as_double(const Tensor& t) {
  return {t.values().begin(), t.values().end()};
}

// Applies f elementwise in double.
std::vector<double> map(const Tensor& t, const std::function<double(double)>& f) {
  std::vector<double> out;
  for (float v : t.values()) out.push_back(f(v));
  return out;
}

Tensor t23() {
  return Tensor::from_data({1, 2, 3, 4, 5, 6}, {2, 3});
}

// Values spread over [-6, 6] with exact 0 and the points around it.
Tensor activation_inputs() {
  std::vector<float> v;
  for (int i = -24; i <= 24; ++i) v.push_back(static_cast<float>(i) * 0.25f);
  for (float x : {-1e-3f, 1e-3f, -15.0f, 15.0f, -30.0f, 30.0f}) v.push_back(x);
  return Tensor::from_data(v, {static_cast<int64_t>(v.size())});
}

// ---- elementwise, with broadcasting ----

TEST(Elementwise, SameShape) {
  Tensor a = t23();
  Tensor b = Tensor::from_data({6, 5, 4, 3, 2, 1}, {2, 3});
  expect_values(add(a, b), {2, 3}, {7, 7, 7, 7, 7, 7});
  expect_values(sub(a, b), {2, 3}, {-5, -3, -1, 1, 3, 5});
  expect_values(mul(a, b), {2, 3}, {6, 10, 12, 12, 10, 6});
  expect_values(div(a, b), {2, 3}, {1.0 / 6, 2.0 / 5, 3.0 / 4, 4.0 / 3, 5.0 / 2, 6.0});
  expect_values(pow(a, b), {2, 3}, {1, 32, 81, 64, 25, 6});
  expect_values(a + b, {2, 3}, {7, 7, 7, 7, 7, 7});
  expect_values(a - b, {2, 3}, {-5, -3, -1, 1, 3, 5});
  expect_values(a * b, {2, 3}, {6, 10, 12, 12, 10, 6});
  expect_values(a / b, {2, 3}, {1.0 / 6, 2.0 / 5, 3.0 / 4, 4.0 / 3, 5.0 / 2, 6.0});
}

TEST(Elementwise, BroadcastRowAndColumn) {
  Tensor a = t23();
  Tensor row = Tensor::from_data({10, 20, 30}, {3});
  Tensor col = Tensor::from_data({2, 0.5f}, {2, 1});
  expect_values(add(a, row), {2, 3}, {11, 22, 33, 14, 25, 36});
  expect_values(add(row, a), {2, 3}, {11, 22, 33, 14, 25, 36});
  expect_values(sub(row, a), {2, 3}, {9, 18, 27, 6, 15, 24});
  expect_values(mul(a, col), {2, 3}, {2, 4, 6, 2, 2.5, 3});
  expect_values(div(a, col), {2, 3}, {0.5, 1, 1.5, 8, 10, 12});
  expect_values(pow(a, col), {2, 3}, {1, 4, 9, 2, std::sqrt(5.0), std::sqrt(6.0)}, 1e-6, 1e-6);
  // Both sides broadcast: (2,1) with (3) -> (2,3).
  expect_values(add(col, row), {2, 3}, {12, 22, 32, 10.5, 20.5, 30.5});
}

TEST(Elementwise, BroadcastHigherRank) {
  // (2,1,3) + (4,1) -> (2,4,3): out[i,j,k] = a[i,0,k] + b[j,0].
  Tensor a = Tensor::arange(0, 6).reshape({2, 1, 3});
  Tensor b = Tensor::from_data({0, 10, 20, 30}, {4, 1});
  Tensor y = add(a, b);
  std::vector<double> want;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 3; ++k) want.push_back(i * 3 + k + j * 10);
  expect_values(y, {2, 4, 3}, want);
  // With a scalar tensor.
  expect_values(mul(a, Tensor::scalar(-2)), {2, 1, 3}, {0, -2, -4, -6, -8, -10});
  expect_values(mul(Tensor::scalar(3), Tensor::scalar(4)), {}, {12});
}

TEST(Elementwise, ScalarOperators) {
  Tensor a = Tensor::from_data({1, 2, 4}, {3});
  expect_values(a + 1.5f, {3}, {2.5, 3.5, 5.5});
  expect_values(a - 1.0f, {3}, {0, 1, 3});
  expect_values(a * 3.0f, {3}, {3, 6, 12});
  expect_values(a / 4.0f, {3}, {0.25, 0.5, 1});
  expect_values(1.5f + a, {3}, {2.5, 3.5, 5.5});
  expect_values(10.0f - a, {3}, {9, 8, 6});
  expect_values(-2.0f * a, {3}, {-2, -4, -8});
  expect_values(8.0f / a, {3}, {8, 4, 2});
  expect_values(-a, {3}, {-1, -2, -4});
}

TEST(Unary, MathFunctions) {
  Tensor x = Tensor::from_data({0.25f, 1, 2.5f, 9}, {2, 2});
  Tensor s = Tensor::from_data({-2, -0.5f, 0, 3}, {4});
  expect_values(neg(s), {4}, {2, 0.5, 0, -3});
  expect_values(exp(s), {4}, map(s, [](double v) { return std::exp(v); }), 0, 1e-6);
  expect_values(log(x), {2, 2}, map(x, [](double v) { return std::log(v); }), 1e-6, 1e-6);
  expect_values(sqrt(x), {2, 2}, {0.5, 1, std::sqrt(2.5), 3}, 0, 1e-6);
  expect_values(abs(s), {4}, {2, 0.5, 0, 3});
  expect_values(square(s), {4}, {4, 0.25, 0, 9});
  expect_values(pow(s, 3.0f), {4}, {-8, -0.125, 0, 27});
  expect_values(pow(x, 0.5f), {2, 2}, {0.5, 1, std::sqrt(2.5), 3}, 0, 1e-6);
  expect_values(pow(x, -1.0f), {2, 2}, {4, 1, 0.4, 1.0 / 9}, 0, 1e-6);
  expect_values(pow(s, 0.0f), {4}, {1, 1, 1, 1});
  Tensor l = log(Tensor::from_data({0}, {1}));
  EXPECT_TRUE(std::isinf(l.item()) && l.item() < 0);
}

TEST(Unary, Clamp) {
  Tensor s = Tensor::from_data({-3, -1, 0, 0.5f, 1, 7}, {6});
  expect_values(clamp(s, -1.0f, 1.0f), {6}, {-1, -1, 0, 0.5, 1, 1});
  expect_values(clamp(s, 2.0f, 2.0f), {6}, {2, 2, 2, 2, 2, 2});
  expect_values(clamp(s, -INFINITY, 0.25f), {6}, {-3, -1, 0, 0.25, 0.25, 0.25});
}

// ---- matmul and linear ----

// Naive (..., M, K) @ (..., K, N) in double, for contiguous 2-D operands.
std::vector<double> naive_matmul(const float* a, const float* b, int64_t m, int64_t k, int64_t n) {
  std::vector<double> c(static_cast<size_t>(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < k; ++p)
        s += static_cast<double>(a[i * k + p]) * static_cast<double>(b[p * n + j]);
      c[static_cast<size_t>(i * n + j)] = s;
    }
  return c;
}

TEST(Matmul, HandComputed2D) {
  Tensor a = t23();
  Tensor b = Tensor::from_data({1, 0, 0, 1, 2, -1}, {3, 2});
  // [1 2 3]·[[1 0][0 1][2 -1]] = [7, -1]; [4 5 6]·... = [16, -1]
  expect_values(matmul(a, b), {2, 2}, {7, -1, 16, -1});
}

TEST(Matmul, RandomSizesAgainstNaiveLoop) {
  Generator gen(17);
  const std::vector<std::array<int64_t, 3>> sizes = {{1, 1, 1}, {7, 13, 5}, {33, 65, 17},
                                                     {1, 9, 1}, {5, 1, 6},  {3, 300, 530}};
  for (auto [m, k, n] : sizes) {
    SCOPED_TRACE(std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n));
    Tensor a = Tensor::uniform({m, k}, -1, 1, gen);
    Tensor b = Tensor::uniform({k, n}, -1, 1, gen);
    const double tol = 1e-5 * static_cast<double>(k) + 1e-6;
    expect_values(matmul(a, b), {m, n}, naive_matmul(a.data(), b.data(), m, k, n), tol, 1e-5);
  }
}

TEST(Matmul, Batched) {
  Generator gen(5);
  const int64_t batch = 3, m = 4, k = 6, n = 5;
  Tensor a = Tensor::uniform({batch, m, k}, -1, 1, gen);
  Tensor b = Tensor::uniform({batch, k, n}, -1, 1, gen);
  std::vector<double> want;
  for (int64_t i = 0; i < batch; ++i) {
    auto c = naive_matmul(a.data() + i * m * k, b.data() + i * k * n, m, k, n);
    want.insert(want.end(), c.begin(), c.end());
  }
  expect_values(matmul(a, b), {batch, m, n}, want, 1e-5, 1e-5);
}

TEST(Matmul, BroadcastBatch) {
  // (2,1,3,4) @ (5,4,2) -> (2,5,3,2): out[i,j] = a[i,0] @ b[j].
  Generator gen(6);
  Tensor a = Tensor::uniform({2, 1, 3, 4}, -1, 1, gen);
  Tensor b = Tensor::uniform({5, 4, 2}, -1, 1, gen);
  std::vector<double> want;
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 5; ++j) {
      auto c = naive_matmul(a.data() + i * 12, b.data() + j * 8, 3, 4, 2);
      want.insert(want.end(), c.begin(), c.end());
    }
  expect_values(matmul(a, b), {2, 5, 3, 2}, want, 1e-5, 1e-5);

  // A 2-D matrix against a batch of 3: the matrix is reused for every batch entry.
  Tensor m2 = Tensor::uniform({3, 4}, -1, 1, gen);
  Tensor bb = Tensor::uniform({3, 4, 7}, -1, 1, gen);
  want.clear();
  for (int64_t j = 0; j < 3; ++j) {
    auto c = naive_matmul(m2.data(), bb.data() + j * 28, 3, 4, 7);
    want.insert(want.end(), c.begin(), c.end());
  }
  expect_values(matmul(m2, bb), {3, 3, 7}, want, 1e-5, 1e-5);

  // And a batch against a 2-D matrix.
  Tensor ab = Tensor::uniform({2, 3, 4}, -1, 1, gen);
  Tensor w = Tensor::uniform({4, 2}, -1, 1, gen);
  want.clear();
  for (int64_t j = 0; j < 2; ++j) {
    auto c = naive_matmul(ab.data() + j * 12, w.data(), 3, 4, 2);
    want.insert(want.end(), c.begin(), c.end());
  }
  expect_values(matmul(ab, w), {2, 3, 2}, want, 1e-5, 1e-5);
}

// x (rows, in) · wᵀ + b in double.
std::vector<double> naive_linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  const int64_t in = w.size(1), out = w.size(0), rows = x.numel() / in;
  std::vector<double> y;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double s = b.defined() ? b.data()[o] : 0.0;
      for (int64_t i = 0; i < in; ++i)
        s += static_cast<double>(x.data()[r * in + i]) * static_cast<double>(w.data()[o * in + i]);
      y.push_back(s);
    }
  return y;
}

TEST(Linear, HandComputed) {
  Tensor x = Tensor::from_data({1, 2, 3, -1, 0, 1}, {2, 3});
  Tensor w = Tensor::from_data({1, 1, 1, 0, 2, -1}, {2, 3});
  Tensor b = Tensor::from_data({10, -10}, {2});
  // row 0: [6, 1]; row 1: [0, -1]
  expect_values(linear(x, w, b), {2, 2}, {16, -9, 10, -11});
  expect_values(linear(x, w), {2, 2}, {6, 1, 0, -1});
}

TEST(Linear, RandomShapesWithAndWithoutBias) {
  Generator gen(8);
  const std::vector<std::pair<Shape, std::pair<int64_t, int64_t>>> cases = {
      {{5, 4}, {4, 3}}, {{1, 1}, {1, 1}}, {{2, 3, 7}, {7, 5}}, {{7}, {7, 2}}, {{33, 65}, {65, 17}}};
  for (const auto& [xs, io] : cases) {
    const auto [in, out] = io;
    SCOPED_TRACE(to_string(xs));
    Tensor x = Tensor::uniform(xs, -1, 1, gen);
    Tensor w = Tensor::uniform({out, in}, -1, 1, gen);
    Tensor b = Tensor::uniform({out}, -1, 1, gen);
    Shape ys = xs;
    ys.back() = out;
    const double tol = 1e-5 * static_cast<double>(in) + 1e-6;
    expect_values(linear(x, w, b), ys, naive_linear(x, w, b), tol, 1e-5);
    expect_values(linear(x, w), ys, naive_linear(x, w, Tensor()), tol, 1e-5);
    // linear(x, w, b) == matmul(x, wᵀ) + b
    if (x.dim() >= 2)
      expect_values(linear(x, w, b), ys, as_double(add(matmul(x, transpose(w)), b)), tol, 1e-5);
  }
}

TEST(Linear, ZeroSizedInnerDimension) {
  // An empty inner dimension gives an empty sum: zeros, plus the bias.
  expect_values(matmul(Tensor::ones({2, 0}), Tensor::ones({0, 3})), {2, 3}, {0, 0, 0, 0, 0, 0});
  Tensor b = Tensor::from_data({1, -1}, {2});
  expect_values(linear(Tensor::ones({3, 0}), Tensor::ones({2, 0}), b), {3, 2},
                {1, -1, 1, -1, 1, -1});
  expect_values(linear(Tensor::ones({3, 0}), Tensor::ones({2, 0})), {3, 2}, {0, 0, 0, 0, 0, 0});
  // No rows at all.
  expect_values(linear(Tensor::ones({0, 4}), Tensor::ones({2, 4}), b), {0, 2}, {});
}

// ---- reductions ----

// x[i, j, k] = 12i + 4j + k.
Tensor t234() {
  return Tensor::arange(0, 24).reshape({2, 3, 4});
}

TEST(Reduce, SumAndMeanOverAxes) {
  Tensor x = t234();
  expect_values(sum(x), {}, {276});
  expect_values(mean(x), {}, {11.5});
  std::vector<double> s0, s1, s2, s02;
  for (int j = 0; j < 3; ++j)
    for (int k = 0; k < 4; ++k) s0.push_back((4 * j + k) + (12 + 4 * j + k));
  for (int i = 0; i < 2; ++i)
    for (int k = 0; k < 4; ++k) s1.push_back(3 * (12 * i + k) + 4 * (0 + 1 + 2));
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) s2.push_back(4 * (12 * i + 4 * j) + 6);
  for (int j = 0; j < 3; ++j) s02.push_back(s0[static_cast<size_t>(j * 4)] * 4 + 2 * 6);
  expect_values(sum(x, {0}), {3, 4}, s0);
  expect_values(sum(x, {1}), {2, 4}, s1);
  expect_values(sum(x, {2}), {2, 3}, s2);
  expect_values(sum(x, {-1}), {2, 3}, s2);
  expect_values(sum(x, {0, 2}), {3}, s02);
  expect_values(sum(x, {2, 0}), {3}, s02);
  expect_values(sum(x, {0, 1, 2}), {}, {276});
  expect_values(sum(x, {1}, true), {2, 1, 4}, s1);
  expect_values(sum(x, {0, -1}, true), {1, 3, 1}, s02);

  auto scaled = [](std::vector<double> v, double f) {
    for (double& e : v) e *= f;
    return v;
  };
  expect_values(mean(x, {0}), {3, 4}, scaled(s0, 0.5), 1e-5, 1e-6);
  expect_values(mean(x, {1}, true), {2, 1, 4}, scaled(s1, 1.0 / 3), 1e-5, 1e-6);
  expect_values(mean(x, {0, 2}), {3}, scaled(s02, 1.0 / 8), 1e-5, 1e-6);
  expect_values(mean(x, {-1}, true), {2, 3, 1}, scaled(s2, 0.25), 1e-5, 1e-6);
}

TEST(Reduce, MaxMinArgmax) {
  Tensor x = Tensor::from_data({3, -1, 7, 2, 9, 0, -5, 4, 4, 8, -2, 1}, {3, 4});
  expect_values(max(x), {}, {9});
  expect_values(min(x), {}, {-5});
  expect_values(max(x, 0), {4}, {9, 8, 7, 4});
  expect_values(max(x, 1), {3}, {7, 9, 8});
  expect_values(max(x, -1, true), {3, 1}, {7, 9, 8});
  expect_values(min(x, 0), {4}, {3, -1, -5, 1});
  expect_values(min(x, 1, true), {3, 1}, {-1, -5, -2});
  EXPECT_EQ(argmax(x, 1), (std::vector<int64_t>{2, 0, 1}));
  EXPECT_EQ(argmax(x, 0), (std::vector<int64_t>{1, 2, 0, 1}));
  EXPECT_EQ(argmax(x, -2), (std::vector<int64_t>{1, 2, 0, 1}));
  // Ties go to the first position.
  Tensor t = Tensor::from_data({1, 5, 5, 2}, {4});
  EXPECT_EQ(argmax(t, 0), (std::vector<int64_t>{1}));
  // A middle axis of a 3-D tensor: argmax over j of 12i + 4j + k is always 2.
  EXPECT_EQ(argmax(t234(), 1), (std::vector<int64_t>(8, 2)));
  // NaN is larger than anything, wherever it is; the first of several wins.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor n = Tensor::from_data({1, nan, 9, 2, nan, 3, nan, 8, 1, 2, 3, nan}, {3, 4});
  EXPECT_EQ(argmax(n, 1), (std::vector<int64_t>{1, 0, 3}));
  EXPECT_EQ(argmax(n, 0), (std::vector<int64_t>{1, 0, 1, 2}));
  expect_values(max(t234(), 1), {2, 4}, {8, 9, 10, 11, 20, 21, 22, 23});
}

TEST(Reduce, MaxGradientGoesToFirstMaximum) {
  Tensor x = Tensor::from_data({1, 5, 5, 2}, {4}, true);
  max(x).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{0, 1, 0, 0}));
}

TEST(Reduce, SumToAndBroadcastTo) {
  Tensor x = t23();
  expect_values(sum_to(x, {3}), {3}, {5, 7, 9});
  expect_values(sum_to(x, {1, 3}), {1, 3}, {5, 7, 9});
  expect_values(sum_to(x, {2, 1}), {2, 1}, {6, 15});
  expect_values(sum_to(x, {}), {}, {21});
  expect_values(sum_to(x, {2, 3}), {2, 3}, {1, 2, 3, 4, 5, 6});
  expect_values(sum_to(t234(), {3, 1}), {3, 1}, {60, 92, 124});

  Tensor c = Tensor::from_data({1, 2, 3}, {3, 1});
  Tensor b = broadcast_to(c, {2, 3, 4});
  std::vector<double> want;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) want.push_back(j + 1);
  expect_values(b, {2, 3, 4}, want);
  // broadcast_to then sum_to is multiplication by the number of copies.
  expect_values(sum_to(b, {3, 1}), {3, 1}, {8, 16, 24});
  expect_values(broadcast_to(Tensor::scalar(2), {2, 2}), {2, 2}, {2, 2, 2, 2});
}

// ---- shape and indexing ----

TEST(ShapeOps, ReshapeFlatten) {
  Tensor x = t234();
  expect_values(reshape(x, {4, 6}), {4, 6}, as_double(x));
  expect_values(reshape(x, {-1, 2}), {12, 2}, as_double(x));
  expect_values(flatten(x), {2, 12}, as_double(x));
  expect_values(flatten(x, 2), {2, 3, 4}, as_double(x));
  expect_values(flatten(x, 0), {24}, as_double(x));
  expect_values(flatten(x, -2), {2, 12}, as_double(x));
  expect_values(flatten(Tensor::scalar(5)), {1}, {5});
}

TEST(ShapeOps, TransposeAndPermute) {
  expect_values(transpose(t23()), {3, 2}, {1, 4, 2, 5, 3, 6});
  Tensor x = t234();
  // permute {2, 0, 1}: out[k, i, j] = x[i, j, k].
  std::vector<double> want;
  for (int k = 0; k < 4; ++k)
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j) want.push_back(12 * i + 4 * j + k);
  expect_values(permute(x, {2, 0, 1}), {4, 2, 3}, want);
  expect_values(permute(x, {-1, 0, 1}), {4, 2, 3}, want);
  // transpose(x, 0, 2): out[k, j, i] = x[i, j, k].
  want.clear();
  for (int k = 0; k < 4; ++k)
    for (int j = 0; j < 3; ++j)
      for (int i = 0; i < 2; ++i) want.push_back(12 * i + 4 * j + k);
  expect_values(transpose(x, 0, 2), {4, 3, 2}, want);
  // Default: the last two axes.
  want.clear();
  for (int i = 0; i < 2; ++i)
    for (int k = 0; k < 4; ++k)
      for (int j = 0; j < 3; ++j) want.push_back(12 * i + 4 * j + k);
  expect_values(transpose(x), {2, 4, 3}, want);
  // Identity permutation copies.
  Tensor p = permute(x, {0, 1, 2});
  expect_values(p, {2, 3, 4}, as_double(x));
  EXPECT_NE(p.data(), x.data());
}

TEST(ShapeOps, Concat) {
  Tensor a = t23();
  Tensor b = Tensor::from_data({7, 8, 9}, {1, 3});
  Tensor c = Tensor::from_data({-1, -2}, {2, 1});
  expect_values(concat({a, b}, 0), {3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  expect_values(concat({a, c, a}, 1), {2, 7}, {1, 2, 3, -1, 1, 2, 3, 4, 5, 6, -2, 4, 5, 6});
  expect_values(concat({c, a}, -1), {2, 4}, {-1, 1, 2, 3, -2, 4, 5, 6});
  expect_values(concat({a}, 0), {2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor v = concat({Tensor::from_data({1}, {1}), Tensor::from_data({2, 3}, {2})});
  expect_values(v, {3}, {1, 2, 3});
}

TEST(ShapeOps, Slice) {
  Tensor r = Tensor::arange(0, 10);
  expect_values(slice(r, 0, 2, 5), {3}, {2, 3, 4});
  expect_values(slice(r, 0, 1, 8, 3), {3}, {1, 4, 7});
  expect_values(slice(r, 0, 1, 9, 3), {3}, {1, 4, 7});
  expect_values(slice(r, 0, -3, -1), {2}, {7, 8});
  expect_values(slice(r, 0, -3, 10), {3}, {7, 8, 9});
  expect_values(slice(r, 0, 8, 100), {2}, {8, 9});  // end clamped
  expect_values(slice(r, 0, 6, 3), {0}, {});        // empty
  Tensor rows = Tensor::arange(0, 12).reshape({2, 6});
  expect_values(slice(rows, 1, 2, 5), {2, 3}, {2, 3, 4, 8, 9, 10});
  expect_values(slice(rows, 1, 0, 6, 4), {2, 2}, {0, 4, 6, 10});
  Tensor x = t234();
  // Axis 1, rows 1..3: x[i, j, k] for j in {1, 2}.
  std::vector<double> want;
  for (int i = 0; i < 2; ++i)
    for (int j = 1; j < 3; ++j)
      for (int k = 0; k < 4; ++k) want.push_back(12 * i + 4 * j + k);
  expect_values(slice(x, 1, 1, 3), {2, 2, 4}, want);
  want.clear();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 1; k < 4; k += 2) want.push_back(12 * i + 4 * j + k);
  expect_values(slice(x, -1, 1, 4, 2), {2, 3, 2}, want);
}

TEST(ShapeOps, IndexSelect) {
  Tensor x = t23();
  std::vector<int64_t> rows{1, 0, 1};
  expect_values(index_select(x, 0, rows), {3, 3}, {4, 5, 6, 1, 2, 3, 4, 5, 6});
  std::vector<int64_t> cols{2, 2, 0};
  expect_values(index_select(x, 1, cols), {2, 3}, {3, 3, 1, 6, 6, 4});
  expect_values(index_select(x, -1, cols), {2, 3}, {3, 3, 1, 6, 6, 4});
  std::vector<int64_t> none;
  expect_values(index_select(x, 0, none), {0, 3}, {});
  // Repeats add up in the gradient.
  Tensor xg = Tensor::zeros({3}, true);
  std::vector<int64_t> idx{2, 0, 2, 2};
  sum(index_select(xg, 0, idx)).backward();
  EXPECT_EQ(xg.grad().to_vector(), (std::vector<float>{1, 0, 3}));
}

// ---- activations ----

double sigmoid_d(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}

TEST(Activations, MatchTheirFormulas) {
  Tensor x = activation_inputs();
  const Shape s = x.shape();
  const double a = 1e-6, r = 1e-5;
  expect_values(sigmoid(x), s, map(x, sigmoid_d), a, r);
  expect_values(tanh(x), s, map(x, [](double v) { return std::tanh(v); }), a, r);
  expect_values(relu(x), s, map(x, [](double v) { return v > 0 ? v : 0.0; }), 0, 0);
  expect_values(leaky_relu(x), s, map(x, [](double v) { return v > 0 ? v : 0.01 * v; }), a, r);
  expect_values(leaky_relu(x, 0.2f), s, map(x, [](double v) { return v > 0 ? v : 0.2 * v; }), a, r);
  expect_values(elu(x), s, map(x, [](double v) { return v > 0 ? v : std::expm1(v); }), a, r);
  expect_values(elu(x, 0.7f), s, map(x, [](double v) { return v > 0 ? v : 0.7 * std::expm1(v); }),
                a, r);
  const double alpha = 1.6732632423543772848170429916717;
  const double scale = 1.0507009873554804934193349852946;
  expect_values(selu(x), s,
                map(x, [&](double v) { return scale * (v > 0 ? v : alpha * std::expm1(v)); }), a,
                r);
  expect_values(gelu(x), s,
                map(x, [](double v) { return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))); }), a,
                r);
  expect_values(softplus(x), s, map(x, [](double v) { return std::log1p(std::exp(v)); }), a, r);
  expect_values(softplus(x, 2.0f), s,
                map(x, [](double v) { return std::log1p(std::exp(2 * v)) / 2; }), a, r);
  expect_values(silu(x), s, map(x, [](double v) { return v * sigmoid_d(v); }), a, r);
  expect_values(swish(x), s, map(x, [](double v) { return v * sigmoid_d(v); }), a, r);
  expect_values(mish(x), s, map(x, [](double v) { return v * std::tanh(std::log1p(std::exp(v))); }),
                a, r);
  expect_values(hardswish(x), s,
                map(x, [](double v) { return v * std::clamp(v + 3, 0.0, 6.0) / 6; }), a, r);
}

TEST(Activations, SpecificValues) {
  Tensor x = Tensor::from_data({-1, 0, 2}, {3});
  expect_values(relu(x), {3}, {0, 0, 2});
  expect_values(sigmoid(Tensor::from_data({0}, {1})), {1}, {0.5});
  expect_values(gelu(Tensor::from_data({0}, {1})), {1}, {0});
  expect_values(softplus(Tensor::from_data({0}, {1})), {1}, {std::log(2.0)});
  // Above the threshold softplus is the identity (and does not overflow).
  expect_values(softplus(Tensor::from_data({50, 100}, {2})), {2}, {50, 100});
  expect_values(softplus(Tensor::from_data({15}, {1}), 2.0f), {1}, {15});  // 2·15 > 20
  // Extreme inputs stay finite.
  Tensor big = Tensor::from_data({-100, 100}, {2});
  expect_values(sigmoid(big), {2}, {sigmoid_d(-100), 1}, 1e-30, 1e-5);
  expect_values(silu(big), {2}, {-100 * sigmoid_d(-100), 100}, 1e-30, 1e-5);
}

TEST(Activations, SoftmaxRowsSumToOneAndMatchFormula) {
  Generator gen(3);
  Tensor x = Tensor::uniform({4, 7}, -3, 3, gen);
  Tensor y = softmax(x);
  std::vector<double> want;
  for (int64_t i = 0; i < 4; ++i) {
    double z = 0;
    for (int64_t j = 0; j < 7; ++j) z += std::exp(static_cast<double>(x.at({i, j})));
    double row = 0;
    for (int64_t j = 0; j < 7; ++j) {
      want.push_back(std::exp(static_cast<double>(x.at({i, j}))) / z);
      row += y.at({i, j});
    }
    EXPECT_NEAR(row, 1.0, 1e-6);
  }
  expect_values(y, {4, 7}, want, 1e-7, 1e-5);
  // log_softmax is the log of softmax, computed directly.
  std::vector<double> logs;
  for (double v : want) logs.push_back(std::log(v));
  expect_values(log_softmax(x), {4, 7}, logs, 1e-5, 1e-5);
  expect_values(log_softmax(x, 1), {4, 7}, logs, 1e-5, 1e-5);
}

TEST(Activations, SoftmaxOverOtherAxes) {
  // Over axis 0 of a (3, 2) tensor: each column sums to 1.
  Tensor x = Tensor::from_data({0, 1, 1, 1, 2, 1}, {3, 2});
  const double z0 = 1 + std::exp(1.0) + std::exp(2.0);
  expect_values(softmax(x, 0), {3, 2},
                {1 / z0, 1.0 / 3, std::exp(1.0) / z0, 1.0 / 3, std::exp(2.0) / z0, 1.0 / 3}, 1e-7,
                1e-5);
  expect_values(softmax(Tensor::from_data({5}, {1})), {1}, {1});
  // A middle axis of a 3-D tensor equals softmax over the last axis after a permutation.
  Generator gen(12);
  Tensor t = Tensor::uniform({2, 5, 3}, -2, 2, gen);
  Tensor direct = softmax(t, 1);
  Tensor via = permute(softmax(permute(t, {0, 2, 1})), {0, 2, 1});
  expect_values(direct, {2, 5, 3}, as_double(via), 1e-7, 1e-6);
}

TEST(Activations, SoftmaxIsStableForLargeLogits) {
  Tensor x = Tensor::from_data({1000, 1001, 1002, -1000, -1001, -1002}, {2, 3});
  Tensor y = softmax(x);
  const double z = 1 + std::exp(1.0) + std::exp(2.0);
  expect_values(
      y, {2, 3},
      {1 / z, std::exp(1.0) / z, std::exp(2.0) / z, std::exp(2.0) / z, std::exp(1.0) / z, 1 / z},
      1e-7, 1e-5);
  Tensor l = log_softmax(x);
  const double lz = std::log(z);
  expect_values(l, {2, 3}, {-lz, 1 - lz, 2 - lz, 2 - lz, 1 - lz, -lz}, 2e-4, 1e-6);
  Tensor far = log_softmax(Tensor::from_data({1000, 0}, {1, 2}));
  expect_values(far, {1, 2}, {0, -1000}, 1e-4, 1e-6);
  for (float v : softmax(Tensor::from_data({1000, 0}, {1, 2})).values())
    EXPECT_TRUE(std::isfinite(v));
}

// ---- losses ----

struct LossData {
  Tensor input = Tensor::from_data({0.5f, -1.0f, 2.0f, 3.0f, 0.0f, -2.5f}, {2, 3});
  Tensor target = Tensor::from_data({1.0f, 1.0f, 1.8f, 0.0f, 0.3f, -2.5f}, {2, 3});
};

// Applies the reduction in double.
Tensor reduced(const Tensor& losses, Reduction r) {
  return r == Reduction::none ? losses : r == Reduction::sum ? sum(losses) : mean(losses);
}
std::vector<double> reduce_d(const std::vector<double>& v, Reduction r) {
  if (r == Reduction::none) return v;
  double s = 0;
  for (double e : v) s += e;
  return {r == Reduction::sum ? s : s / static_cast<double>(v.size())};
}
Shape reduce_shape(const Shape& s, Reduction r) {
  return r == Reduction::none ? s : Shape{};
}

std::vector<double> pointwise(const Tensor& a, const Tensor& b,
                              const std::function<double(double, double)>& f) {
  std::vector<double> out;
  for (int64_t i = 0; i < a.numel(); ++i) out.push_back(f(a.data()[i], b.data()[i]));
  return out;
}

const Reduction kReductions[] = {Reduction::none, Reduction::mean, Reduction::sum};

TEST(Losses, RegressionLossesMatchFormulas) {
  LossData d;
  const Shape s = d.input.shape();
  for (Reduction r : kReductions) {
    SCOPED_TRACE(static_cast<int>(r));
    const Shape rs = reduce_shape(s, r);
    expect_values(
        mse_loss(d.input, d.target, r), rs,
        reduce_d(pointwise(d.input, d.target, [](double x, double t) { return (x - t) * (x - t); }),
                 r),
        1e-6, 1e-6);
    expect_values(
        l1_loss(d.input, d.target, r), rs,
        reduce_d(pointwise(d.input, d.target, [](double x, double t) { return std::fabs(x - t); }),
                 r),
        1e-6, 1e-6);
    for (double delta : {1.0, 0.5, 3.0}) {
      auto huber = [delta](double x, double t) {
        double a = std::fabs(x - t);
        return a < delta ? 0.5 * a * a : delta * (a - 0.5 * delta);
      };
      expect_values(huber_loss(d.input, d.target, r, static_cast<float>(delta)), rs,
                    reduce_d(pointwise(d.input, d.target, huber), r), 1e-6, 1e-6);
      auto smooth = [delta](double x, double t) {
        double a = std::fabs(x - t);
        return a < delta ? 0.5 * a * a / delta : a - 0.5 * delta;
      };
      expect_values(smooth_l1_loss(d.input, d.target, r, static_cast<float>(delta)), rs,
                    reduce_d(pointwise(d.input, d.target, smooth), r), 1e-6, 1e-6);
    }
  }
  // Defaults: mean reduction, delta = beta = 1. Hand-computed mse: (0.25+4+0.04+9+0.09+0)/6.
  expect_values(mse_loss(d.input, d.target), {}, {(0.25 + 4 + 0.04 + 9 + 0.09) / 6}, 1e-6, 1e-6);
  // huber with delta 1: 0.125, 1.5, 0.02, 2.5, 0.045, 0.
  expect_values(huber_loss(d.input, d.target, Reduction::sum), {},
                {0.125 + 1.5 + 0.02 + 2.5 + 0.045}, 1e-6, 1e-6);
  // smooth_l1 with beta 1 equals huber with delta 1.
  expect_values(smooth_l1_loss(d.input, d.target), {}, as_double(huber_loss(d.input, d.target)),
                1e-7, 1e-6);
}

TEST(Losses, BinaryCrossEntropyMatchesFormula) {
  Tensor p = Tensor::from_data({0.1f, 0.5f, 0.9f, 0.3f, 0.99f, 0.01f}, {2, 3});
  Tensor t = Tensor::from_data({0, 1, 1, 0.5f, 0, 1}, {2, 3});
  auto bce = [](double pi, double ti) {
    return -(ti * std::log(pi) + (1 - ti) * std::log(1 - pi));
  };
  for (Reduction r : kReductions)
    expect_values(binary_cross_entropy(p, t, r), reduce_shape(p.shape(), r),
                  reduce_d(pointwise(p, t, bce), r), 1e-5, 1e-5);
  // The log is clamped at -100: p = 0 with t = 1 costs 100; p = 0 with t = 0 costs nothing.
  Tensor edge = Tensor::from_data({0, 0, 1, 1}, {4});
  Tensor et = Tensor::from_data({1, 0, 0, 1}, {4});
  expect_values(binary_cross_entropy(edge, et, Reduction::none), {4}, {100, 0, 100, 0}, 1e-4, 1e-6);
}

TEST(Losses, BinaryCrossEntropyWithLogitsMatchesFormula) {
  Tensor x = Tensor::from_data({-3, -0.5f, 0, 0.7f, 2, 5}, {3, 2});
  Tensor t = Tensor::from_data({0, 1, 0.5f, 1, 0, 1}, {3, 2});
  auto bce = [](double xi, double ti) {
    double s = sigmoid_d(xi);
    return -(ti * std::log(s) + (1 - ti) * std::log(1 - s));
  };
  for (Reduction r : kReductions)
    expect_values(binary_cross_entropy_with_logits(x, t, r), reduce_shape(x.shape(), r),
                  reduce_d(pointwise(x, t, bce), r), 1e-6, 1e-5);
  // Equal to binary_cross_entropy(sigmoid(x)) where the latter is accurate.
  expect_values(binary_cross_entropy_with_logits(x, t), {},
                as_double(binary_cross_entropy(sigmoid(x), t)), 1e-5, 1e-5);
  // Stable for large logits: -log σ(-100) = 100 + log(1 + e^-100).
  Tensor big = Tensor::from_data({100, -100, 100}, {3});
  Tensor bt = Tensor::from_data({0, 1, 1}, {3});
  expect_values(binary_cross_entropy_with_logits(big, bt, Reduction::none), {3}, {100, 100, 0},
                1e-4, 1e-6);
}

// -x[t] + log Σ_j exp x[j], per row, in double.
std::vector<double> cross_entropy_d(const Tensor& logits, const std::vector<int64_t>& targets) {
  std::vector<double> out;
  const int64_t c = logits.size(1);
  for (int64_t i = 0; i < logits.size(0); ++i) {
    double z = 0;
    for (int64_t j = 0; j < c; ++j) z += std::exp(static_cast<double>(logits.at({i, j})));
    out.push_back(-static_cast<double>(logits.at({i, targets[static_cast<size_t>(i)]})) +
                  std::log(z));
  }
  return out;
}

TEST(Losses, CrossEntropyAndNllMatchFormulas) {
  Generator gen(21);
  Tensor logits = Tensor::uniform({5, 4}, -3, 3, gen);
  std::vector<int64_t> targets{0, 3, 1, 3, 2};
  for (Reduction r : kReductions) {
    SCOPED_TRACE(static_cast<int>(r));
    const Shape rs = r == Reduction::none ? Shape{5} : Shape{};
    Tensor ce = cross_entropy(logits, targets, r);
    expect_values(ce, rs, reduce_d(cross_entropy_d(logits, targets), r), 1e-5, 1e-5);
    Tensor nll = nll_loss(log_softmax(logits), targets, r);
    expect_values(nll, rs, as_double(ce), 1e-6, 1e-6);
  }
  // nll_loss picks -input[i, t_i].
  Tensor lp = Tensor::from_data({-0.1f, -2, -3, -0.5f}, {2, 2});
  std::vector<int64_t> tt{1, 0};
  expect_values(nll_loss(lp, tt, Reduction::none), {2}, {2, 3});
  expect_values(nll_loss(lp, tt), {}, {2.5});
  expect_values(nll_loss(lp, tt, Reduction::sum), {}, {5});
  // Large logits stay finite: [1000, 0] against class 1 costs 1000.
  std::vector<int64_t> one{1};
  expect_values(cross_entropy(Tensor::from_data({1000, 0}, {1, 2}), one), {}, {1000}, 1e-3, 1e-6);
  // Uniform logits: log C.
  std::vector<int64_t> zero{0};
  expect_values(cross_entropy(Tensor::zeros({1, 10}), zero), {}, {std::log(10.0)}, 1e-6, 1e-6);
}

TEST(Losses, ReductionHelperAgreesWithOps) {
  // mean and sum reductions equal mean() and sum() of the unreduced loss.
  LossData d;
  for (Reduction r : {Reduction::mean, Reduction::sum}) {
    expect_values(mse_loss(d.input, d.target, r), {},
                  as_double(reduced(mse_loss(d.input, d.target, Reduction::none), r)), 1e-6, 1e-6);
    expect_values(l1_loss(d.input, d.target, r), {},
                  as_double(reduced(l1_loss(d.input, d.target, Reduction::none), r)), 1e-6, 1e-6);
  }
}

// ---- error paths ----

TEST(OpErrors, IncompatibleBroadcastNamesOpAndShapes) {
  Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({4});
  expect_error_all([&] { (void)add(a, b); }, {"add", "[2, 3]", "[4]"});
  expect_error_all([&] { (void)sub(a, b); }, {"sub", "[2, 3]", "[4]"});
  expect_error_all([&] { (void)mul(b, a); }, {"mul", "[4]", "[2, 3]"});
  expect_error_all([&] { (void)div(a, b); }, {"div", "[2, 3]", "[4]"});
  expect_error_all([&] { (void)pow(a, b); }, {"pow", "[2, 3]", "[4]"});
  expect_error_all([&] { (void)(a + b); }, {"add", "cannot be broadcast"});
  expect_error_all(
      [&] {
        (void)add(Tensor::zeros({2, 3, 4}), Tensor::zeros({3, 3, 1}));
      },
      {"[2, 3, 4]", "[3, 3, 1]"});
}

TEST(OpErrors, MatmulShapes) {
  expect_error_all(
      [] {
        (void)matmul(Tensor::zeros({2, 3}), Tensor::zeros({4, 5}));
      },
      {"matmul", "inner dimensions", "[2, 3]", "[4, 5]"});
  expect_error_all(
      [] {
        (void)matmul(Tensor::zeros({3}), Tensor::zeros({3, 2}));
      },
      {"matmul", "at least 2 dimensions"});
  expect_error_all(
      [] {
        (void)matmul(Tensor::zeros({3, 2}), Tensor::zeros({2}));
      },
      {"matmul", "at least 2 dimensions"});
  expect_error_all(
      [] {
        (void)matmul(Tensor::zeros({2, 3, 4}), Tensor::zeros({3, 4, 5}));
      },
      {"matmul", "[2]", "[3]"});
}

TEST(OpErrors, LinearShapes) {
  Tensor x = Tensor::zeros({4, 3});
  expect_error_all([&] { (void)linear(x, Tensor::zeros({2, 4})); }, {"linear", "[4, 3]", "[2, 4]"});
  expect_error_all([&] { (void)linear(x, Tensor::zeros({3})); }, {"linear", "2-D"});
  expect_error_all([&] { (void)linear(x, Tensor::zeros({2, 3, 1})); }, {"linear", "2-D"});
  expect_error_all(
      [&] {
        (void)linear(x, Tensor::zeros({2, 3}), Tensor::zeros({3}));
      },
      {"linear", "bias", "[3]", "[2, 3]"});
  expect_error_all(
      [&] {
        (void)linear(x, Tensor::zeros({2, 3}), Tensor::zeros({1, 2}));
      },
      {"linear", "bias"});
  expect_error_all([&] { (void)linear(Tensor::scalar(1), Tensor::zeros({2, 1})); }, {"linear"});
}

TEST(OpErrors, BadAxes) {
  Tensor x = Tensor::zeros({2, 3});
  expect_error_all([&] { (void)sum(x, {2}); }, {"sum", "axis 2", "rank 2"});
  expect_error_all([&] { (void)sum(x, {-3}); }, {"sum", "out of range"});
  expect_error_all([&] { (void)mean(x, {5}); }, {"mean", "out of range"});
  expect_error_all([&] { (void)max(x, 2); }, {"max", "out of range"});
  expect_error_all([&] { (void)min(x, -3); }, {"min", "out of range"});
  expect_error_all([&] { (void)min(Tensor::zeros({0})); }, {"min", "empty"});
  expect_error_all([&] { (void)argmax(x, 2); }, {"argmax", "out of range"});
  expect_error_all([&] { (void)softmax(x, 2); }, {"softmax", "out of range"});
  expect_error_all([&] { (void)log_softmax(x, -3); }, {"log_softmax", "out of range"});
  expect_error_all([&] { (void)softmax(Tensor::scalar(1)); }, {"softmax", "scalar"});
  expect_error_all([&] { (void)transpose(x, 0, 2); }, {"transpose", "out of range"});
  expect_error_all([&] { (void)transpose(Tensor::zeros({3})); }, {"transpose", "out of range"});
  expect_error_all([&] { (void)flatten(x, 2); }, {"flatten", "out of range"});
  expect_error_all([&] { (void)concat({x, x}, 2); }, {"concat", "out of range"});
  expect_error_all([&] { (void)slice(x, 2, 0, 1); }, {"slice", "out of range"});
  std::vector<int64_t> idx{0};
  expect_error_all([&] { (void)index_select(x, -3, idx); }, {"index_select", "out of range"});
  expect_error_all([&] { (void)max(Tensor::zeros({0})); }, {"max", "empty"});
  expect_error_all([&] { (void)mean(Tensor::zeros({0})); }, {"mean", "empty"});
}

TEST(OpErrors, DuplicateAxes) {
  Tensor x = Tensor::zeros({2, 3, 4});
  expect_error_all([&] { (void)sum(x, {0, 0}); }, {"sum", "twice"});
  expect_error_all([&] { (void)sum(x, {2, -1}); }, {"sum", "twice"});
  expect_error_all([&] { (void)mean(x, {1, 0, 1}); }, {"mean", "twice"});
}

TEST(OpErrors, PermuteWrongOrder) {
  Tensor x = Tensor::zeros({2, 3, 4});
  expect_error_all([&] { (void)permute(x, {0, 1}); }, {"permute", "[2, 3, 4]"});
  expect_error_all([&] { (void)permute(x, {0, 1, 2, 3}); }, {"permute", "4 axes"});
  expect_error_all([&] { (void)permute(x, {0, 1, 1}); }, {"permute", "twice"});
  expect_error_all([&] { (void)permute(x, {0, 2, -1}); }, {"permute", "twice"});
  expect_error_all([&] { (void)permute(x, {0, 1, 3}); }, {"permute", "out of range"});
}

TEST(OpErrors, ConcatMismatch) {
  Tensor a = Tensor::zeros({2, 3});
  expect_error_all(
      [&] {
        (void)concat({a, Tensor::zeros({3, 3})}, 1);
      },
      {"concat", "[2, 3]", "[3, 3]"});
  expect_error_all(
      [&] {
        (void)concat({a, Tensor::zeros({2, 3, 1})}, 0);
      },
      {"concat", "[2, 3, 1]"});
  expect_error_all([&] { (void)concat({a, Tensor::zeros({3})}, 0); }, {"concat", "[3]"});
  expect_error_all([] { (void)concat({}, 0); }, {"concat", "at least one"});
  expect_error_all([&] { (void)concat({a, Tensor()}, 0); }, {"concat", "undefined"});
}

TEST(OpErrors, SliceAndIndexSelect) {
  Tensor x = Tensor::zeros({2, 3});
  expect_error_all([&] { (void)slice(x, 1, 0, 2, 0); }, {"slice", "step", "0"});
  expect_error_all([&] { (void)slice(x, 1, 2, 0, -1); }, {"slice", "step must be positive"});
  std::vector<int64_t> big{0, 3}, negative{-1};
  expect_error_all([&] { (void)index_select(x, 1, big); }, {"index_select", "index 3", "[2, 3]"});
  expect_error_all([&] { (void)index_select(x, 0, negative); }, {"index_select", "-1"});
}

TEST(OpErrors, ElementwiseArguments) {
  Tensor x = Tensor::zeros({3});
  expect_error_all([&] { (void)clamp(x, 2.0f, 1.0f); }, {"clamp", "low <= high", "2", "1"});
  expect_error_all([&] { (void)clamp(x, NAN, 1.0f); }, {"clamp"});
  expect_error_all([&] { (void)pow(x, NAN); }, {"pow", "finite"});
  expect_error_all([&] { (void)leaky_relu(x, INFINITY); }, {"leaky_relu"});
  expect_error_all([&] { (void)elu(x, -1.0f); }, {"elu", "alpha"});
  expect_error_all([&] { (void)softplus(x, 0.0f); }, {"softplus", "beta"});
  expect_error_all([&] { (void)softplus(x, NAN); }, {"softplus", "beta"});
  expect_error_all(
      [&] {
        (void)broadcast_to(Tensor::zeros({2, 3}), {3, 3});
      },
      {"broadcast_to", "[2, 3]", "[3, 3]"});
  expect_error_all([&] { (void)broadcast_to(Tensor::zeros({2, 3}), {3}); }, {"broadcast_to"});
  expect_error_all([&] { (void)sum_to(Tensor::zeros({2, 3}), {4}); }, {"sum_to", "[2, 3]", "[4]"});
  expect_error_all([&] { (void)sum_to(Tensor::zeros({2}), {2, 2}); }, {"sum_to"});
}

TEST(OpErrors, LossShapes) {
  Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({3, 2});
  expect_error_all([&] { (void)mse_loss(a, b); }, {"mse_loss", "[2, 3]", "[3, 2]"});
  expect_error_all([&] { (void)l1_loss(a, b); }, {"l1_loss", "[2, 3]", "[3, 2]"});
  expect_error_all([&] { (void)huber_loss(a, b); }, {"huber_loss", "[2, 3]", "[3, 2]"});
  expect_error_all([&] { (void)smooth_l1_loss(a, b); }, {"smooth_l1_loss", "[3, 2]"});
  expect_error_all([&] { (void)binary_cross_entropy(a, b); }, {"binary_cross_entropy", "[3, 2]"});
  expect_error_all([&] { (void)binary_cross_entropy_with_logits(a, b); },
                   {"binary_cross_entropy_with_logits", "[3, 2]"});
  // Broadcastable shapes are still rejected: losses need an exact match.
  expect_error_all([&] { (void)mse_loss(a, Tensor::zeros({3})); }, {"mse_loss", "[3]"});
  expect_error_all([&] { (void)huber_loss(a, a, Reduction::mean, 0.0f); }, {"huber_loss", "delta"});
  expect_error_all([&] { (void)smooth_l1_loss(a, a, Reduction::mean, -1.0f); },
                   {"smooth_l1_loss", "beta"});
}

TEST(OpErrors, ClassificationTargets) {
  Tensor logits = Tensor::zeros({3, 4});
  std::vector<int64_t> out_of_range{0, 4, 1}, negative{0, -1, 1}, too_few{0, 1}, ok{0, 1, 2};
  for (const char* op : {"cross_entropy", "nll_loss"}) {
    SCOPED_TRACE(op);
    auto call = [op](const Tensor& x, std::span<const int64_t> t) {
      return std::string(op) == "cross_entropy" ? cross_entropy(x, t) : nll_loss(x, t);
    };
    expect_error_all([&] { (void)call(logits, out_of_range); },
                     {op, "target 4", "position 1", "[0, 4)"});
    expect_error_all([&] { (void)call(logits, negative); }, {op, "target -1"});
    expect_error_all([&] { (void)call(logits, too_few); }, {op, "2 targets for a batch of 3"});
    expect_error_all([&] { (void)call(Tensor::zeros({3}), ok); }, {op, "2-D", "[3]"});
    expect_error_all([&] { (void)call(Tensor::zeros({3, 4, 1}), ok); }, {op, "2-D", "[3, 4, 1]"});
    expect_error_all([&] { (void)call(Tensor(), ok); }, {op, "undefined"});
  }
}

TEST(OpErrors, BinaryCrossEntropyNeedsProbabilities) {
  Tensor t = Tensor::zeros({3});
  expect_error_all(
      [&] {
        (void)binary_cross_entropy(Tensor::from_data({0.5f, 1.5f, 0}, {3}), t);
      },
      {"binary_cross_entropy", "1.5", "[0, 1]"});
  expect_error_all(
      [&] {
        (void)binary_cross_entropy(Tensor::from_data({-0.1f, 0.5f, 0}, {3}), t);
      },
      {"binary_cross_entropy", "-0.1"});
  expect_error_all(
      [&] {
        (void)binary_cross_entropy(Tensor::from_data({0.5f, NAN, 0}, {3}), t);
      },
      {"binary_cross_entropy", "nan"});
}

TEST(OpErrors, UndefinedTensors) {
  Tensor u, x = Tensor::zeros({2, 2});
  expect_error_all([&] { (void)add(u, x); }, {"add", "first", "undefined"});
  expect_error_all([&] { (void)mul(x, u); }, {"mul", "second", "undefined"});
  expect_error_all([&] { (void)(x - u); }, {"sub", "undefined"});
  expect_error_all([&] { (void)(u / 2.0f); }, {"div", "undefined"});
  expect_error_all([&] { (void)exp(u); }, {"exp", "undefined"});
  expect_error_all([&] { (void)relu(u); }, {"relu", "undefined"});
  expect_error_all([&] { (void)clamp(u, 0, 1); }, {"clamp", "undefined"});
  expect_error_all([&] { (void)matmul(u, x); }, {"matmul", "undefined"});
  expect_error_all([&] { (void)linear(x, u); }, {"linear", "weight", "undefined"});
  expect_error_all([&] { (void)linear(u, x); }, {"linear", "input", "undefined"});
  expect_error_all([&] { (void)sum(u); }, {"sum", "undefined"});
  expect_error_all([&] { (void)sum(u, {0}); }, {"sum", "undefined"});
  expect_error_all([&] { (void)mean(u); }, {"mean", "undefined"});
  expect_error_all([&] { (void)max(u); }, {"max", "undefined"});
  expect_error_all([&] { (void)argmax(u, 0); }, {"argmax", "undefined"});
  expect_error_all([&] { (void)sum_to(u, {1}); }, {"sum_to", "undefined"});
  expect_error_all([&] { (void)broadcast_to(u, {1}); }, {"broadcast_to", "undefined"});
  expect_error_all([&] { (void)reshape(u, {1}); }, {"reshape", "undefined"});
  expect_error_all([&] { (void)permute(u, {0}); }, {"permute", "undefined"});
  expect_error_all([&] { (void)transpose(u); }, {"transpose", "undefined"});
  expect_error_all([&] { (void)slice(u, 0, 0, 1); }, {"slice", "undefined"});
  std::vector<int64_t> idx{0};
  expect_error_all([&] { (void)index_select(u, 0, idx); }, {"index_select", "undefined"});
  expect_error_all([&] { (void)softmax(u); }, {"softmax", "undefined"});
  expect_error_all([&] { (void)mse_loss(u, x); }, {"mse_loss", "input", "undefined"});
  expect_error_all([&] { (void)l1_loss(x, u); }, {"l1_loss", "target", "undefined"});
  expect_error_all([&] { (void)binary_cross_entropy(u, x); },
                   {"binary_cross_entropy", "undefined"});
}

}  // namespace
}  // namespace bp
