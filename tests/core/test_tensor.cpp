// Tensor factories, inspection, views, printing, allclose, Generator, and every error path.
#include <cmath>
#include <cstdint>
#include <numeric>
#include <sstream>

#include "test_util.hpp"

namespace bp {
namespace {

using bp::testing::expect_error;

double sample_mean(std::span<const float> v) {
  double s = 0;
  for (float x : v) s += x;
  return s / static_cast<double>(v.size());
}

double sample_std(std::span<const float> v) {
  const double m = sample_mean(v);
  double s = 0;
  for (float x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

// ---- factories ----

TEST(TensorFactory, ZerosOnesFull) {
  Tensor z = Tensor::zeros({2, 3});
  EXPECT_EQ(z.shape(), (Shape{2, 3}));
  EXPECT_EQ(z.numel(), 6);
  for (float v : z.values()) EXPECT_EQ(v, 0.0f);
  EXPECT_FALSE(z.requires_grad());

  Tensor o = Tensor::ones({4}, true);
  EXPECT_TRUE(o.requires_grad());
  EXPECT_TRUE(o.is_leaf());
  for (float v : o.values()) EXPECT_EQ(v, 1.0f);

  Tensor f = Tensor::full({3, 1, 2}, -2.5f);
  EXPECT_EQ(f.dim(), 3);
  EXPECT_EQ(f.numel(), 6);
  for (float v : f.values()) EXPECT_EQ(v, -2.5f);
}

TEST(TensorFactory, ZeroSizedTensor) {
  Tensor t = Tensor::zeros({3, 0});
  EXPECT_EQ(t.numel(), 0);
  EXPECT_EQ(t.size(0), 3);
  EXPECT_EQ(t.size(1), 0);
  EXPECT_TRUE(t.to_vector().empty());
}

TEST(TensorFactory, Scalar) {
  Tensor s = Tensor::scalar(3.25f, true);
  EXPECT_EQ(s.dim(), 0);
  EXPECT_TRUE(s.shape().empty());
  EXPECT_EQ(s.numel(), 1);
  EXPECT_EQ(s.item(), 3.25f);
  EXPECT_TRUE(s.requires_grad());
  EXPECT_EQ(s.at({}), 3.25f);
}

TEST(TensorFactory, FromDataCopiesRowMajor) {
  std::vector<float> src{1, 2, 3, 4, 5, 6};
  Tensor t = Tensor::from_data(src, {2, 3});
  src[0] = 100.0f;  // the tensor owns a copy
  EXPECT_EQ(t.at({0, 0}), 1.0f);
  EXPECT_EQ(t.at({0, 2}), 3.0f);
  EXPECT_EQ(t.at({1, 0}), 4.0f);
  EXPECT_EQ(t.at({1, 2}), 6.0f);
  EXPECT_EQ(t.to_vector(), (std::vector<float>{1, 2, 3, 4, 5, 6}));

  Tensor u = Tensor::from_data({7, 8}, {2, 1}, true);
  EXPECT_TRUE(u.requires_grad());
  EXPECT_EQ(u.at({1, 0}), 8.0f);
}

TEST(TensorFactory, Arange) {
  EXPECT_EQ(Tensor::arange(0, 5).to_vector(), (std::vector<float>{0, 1, 2, 3, 4}));
  EXPECT_EQ(Tensor::arange(1, 2, 0.25f).to_vector(), (std::vector<float>{1, 1.25f, 1.5f, 1.75f}));
  EXPECT_EQ(Tensor::arange(3, 0, -1).to_vector(), (std::vector<float>{3, 2, 1}));
  // The end is exclusive even when the step does not divide the range.
  EXPECT_EQ(Tensor::arange(0, 7, 3).to_vector(), (std::vector<float>{0, 3, 6}));
  EXPECT_EQ(Tensor::arange(2, 2).numel(), 0);
  Tensor t = Tensor::arange(0, 10);
  EXPECT_EQ(t.shape(), (Shape{10}));
}

TEST(TensorFactory, UniformIsSeededAndInRange) {
  Generator g1(42), g2(42), g3(43);
  Tensor a = Tensor::uniform({1000}, -3.0f, 5.0f, g1);
  Tensor b = Tensor::uniform({1000}, -3.0f, 5.0f, g2);
  Tensor c = Tensor::uniform({1000}, -3.0f, 5.0f, g3);
  EXPECT_EQ(a.to_vector(), b.to_vector());
  EXPECT_NE(a.to_vector(), c.to_vector());
  for (float v : a.values()) {
    EXPECT_GE(v, -3.0f);
    EXPECT_LT(v, 5.0f);
  }
  Tensor big = Tensor::uniform({100000}, -3.0f, 5.0f, g1, true);
  EXPECT_TRUE(big.requires_grad());
  // U(a, b): mean (a+b)/2 = 1, std (b-a)/sqrt(12) = 2.309.
  EXPECT_NEAR(sample_mean(big.values()), 1.0, 0.05);
  EXPECT_NEAR(sample_std(big.values()), 8.0 / std::sqrt(12.0), 0.05);
}

TEST(TensorFactory, NormalIsSeededWithTheRightMoments) {
  Generator g1(9), g2(9);
  Tensor a = Tensor::normal({100000}, 2.0f, 0.5f, g1);
  Tensor b = Tensor::normal({100000}, 2.0f, 0.5f, g2);
  EXPECT_EQ(a.to_vector(), b.to_vector());
  EXPECT_NEAR(sample_mean(a.values()), 2.0, 0.01);
  EXPECT_NEAR(sample_std(a.values()), 0.5, 0.01);
  // About 68.3% of a normal sample lies within one standard deviation.
  int64_t inside = 0;
  for (float v : a.values()) inside += std::fabs(v - 2.0f) < 0.5f ? 1 : 0;
  EXPECT_NEAR(static_cast<double>(inside) / 100000.0, 0.6827, 0.01);
  Tensor zero_std = Tensor::normal({10}, 1.5f, 0.0f, g1);
  for (float v : zero_std.values()) EXPECT_EQ(v, 1.5f);
}

// ---- inspection ----

TEST(TensorInspect, SizeWithNegativeAxes) {
  Tensor t = Tensor::zeros({2, 3, 4});
  EXPECT_EQ(t.size(0), 2);
  EXPECT_EQ(t.size(2), 4);
  EXPECT_EQ(t.size(-1), 4);
  EXPECT_EQ(t.size(-3), 2);
  EXPECT_EQ(t.numel(), 24);
  expect_error([&] { (void)t.size(3); }, "Tensor::size");
  expect_error([&] { (void)t.size(-4); }, "out of range");
}

TEST(TensorInspect, AtReadsAndWritesRowMajor) {
  Tensor t = Tensor::zeros({2, 3, 4});
  t.at({1, 2, 3}) = 5.0f;
  t.at({0, 1, 0}) = -1.0f;
  EXPECT_EQ(t.data()[1 * 12 + 2 * 4 + 3], 5.0f);
  EXPECT_EQ(t.data()[4], -1.0f);
  const Tensor& ct = t;
  EXPECT_EQ(ct.at({1, 2, 3}), 5.0f);
}

TEST(TensorInspect, Item) {
  EXPECT_EQ(Tensor::full({1, 1, 1}, 7.0f).item(), 7.0f);
  EXPECT_EQ(Tensor::from_data({4.5f}, {1}).item(), 4.5f);
}

TEST(TensorInspect, DataIs64ByteAligned) {
  for (int64_t n : {1, 3, 17, 100, 1000}) {
    Tensor t = Tensor::empty({n});
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.data()) % 64, 0u) << "numel " << n;
  }
  Tensor s = Tensor::scalar(1.0f);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(s.data()) % 64, 0u);
  Tensor r = Tensor::ones({3, 5}).reshape({15});
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(r.data()) % 64, 0u);
  Tensor c = Tensor::ones({7}).clone();
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(c.data()) % 64, 0u);
}

// ---- views, clone ----

TEST(TensorView, ReshapeSharesStorage) {
  Tensor t = Tensor::arange(0, 6).reshape({2, 3});
  Tensor v = t.reshape({3, 2});
  EXPECT_EQ(v.shape(), (Shape{3, 2}));
  EXPECT_EQ(v.data(), t.data());
  v.at({2, 1}) = 42.0f;  // last element
  EXPECT_EQ(t.at({1, 2}), 42.0f);
  t.at({0, 1}) = -7.0f;
  EXPECT_EQ(v.at({0, 1}), -7.0f);
  Tensor w = t.view({6});
  w.data()[3] = 9.0f;
  EXPECT_EQ(t.at({1, 0}), 9.0f);
}

TEST(TensorView, ReshapeInfersMinusOne) {
  Tensor t = Tensor::zeros({2, 3, 4});
  EXPECT_EQ(t.reshape({-1}).shape(), (Shape{24}));
  EXPECT_EQ(t.reshape({4, -1}).shape(), (Shape{4, 6}));
  EXPECT_EQ(t.reshape({-1, 2, 3}).shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(t.flatten().shape(), (Shape{2, 12}));
  EXPECT_EQ(t.flatten(0).shape(), (Shape{24}));
  expect_error([&] { (void)t.reshape({5, -1}); }, "cannot reshape");
  expect_error([&] { (void)t.reshape({-1, -1}); }, "more than one -1");
  expect_error([&] { (void)t.reshape({5, 5}); }, "[2, 3, 4]");
  expect_error([&] { (void)t.reshape({-2, 12}); }, "negative extent");
}

TEST(TensorView, CloneIsIndependent) {
  Tensor t = Tensor::from_data({1, 2, 3}, {3}, true);
  Tensor c = t.clone();
  EXPECT_NE(c.data(), t.data());
  EXPECT_EQ(c.to_vector(), t.to_vector());
  EXPECT_FALSE(c.requires_grad());
  c.data()[0] = 10.0f;
  EXPECT_EQ(t.data()[0], 1.0f);
  t.data()[2] = -3.0f;
  EXPECT_EQ(c.data()[2], 3.0f);
}

TEST(TensorView, CopiesOfAHandleShareState) {
  Tensor t = Tensor::zeros({2});
  Tensor u = t;
  EXPECT_TRUE(u.is_same(t));
  u.data()[1] = 3.0f;
  EXPECT_EQ(t.data()[1], 3.0f);
  EXPECT_FALSE(t.is_same(t.clone()));
}

TEST(TensorInPlace, FillAndCopy) {
  Tensor t = Tensor::zeros({2, 2});
  t.fill_(4.0f);
  for (float v : t.values()) EXPECT_EQ(v, 4.0f);
  Tensor src = Tensor::arange(0, 4);
  t.copy_(src.reshape({2, 2}));
  EXPECT_EQ(t.to_vector(), (std::vector<float>{0, 1, 2, 3}));
  EXPECT_EQ(t.shape(), (Shape{2, 2}));
  expect_error([&] { t.copy_(Tensor::zeros({3})); }, "Tensor::copy_");
  // The same number of elements in another shape is refused too: 2×3 into 3×2.
  Tensor wide = Tensor::zeros({2, 3});
  expect_error(
      [&] {
        wide.copy_(Tensor::ones({3, 2}));
      },
      "Tensor::copy_: source has shape [3, 2], destination [2, 3]");
  expect_error([&] { t.copy_(src); }, "source has shape [4], destination [2, 2]");
  EXPECT_EQ(wide.to_vector(), std::vector<float>(6, 0.0f));
}

// ---- printing ----

TEST(TensorPrint, ToStringContainsValuesAndShape) {
  Tensor t = Tensor::from_data({1.5f, -2, 3, 4.25f, 5, 6}, {2, 3});
  std::string s = t.to_string();
  for (const char* part : {"1.5", "-2", "4.25", "6", "shape=[2, 3]"})
    EXPECT_NE(s.find(part), std::string::npos) << part << " missing from " << s;
  EXPECT_EQ(s.find("requires_grad"), std::string::npos);

  std::ostringstream os;
  os << Tensor::scalar(0.125f, true);
  EXPECT_NE(os.str().find("0.125"), std::string::npos) << os.str();
  EXPECT_NE(os.str().find("shape=[]"), std::string::npos) << os.str();
  EXPECT_NE(os.str().find("requires_grad"), std::string::npos) << os.str();

  EXPECT_EQ(Tensor().to_string(), "Tensor(undefined)");
}

TEST(TensorPrint, LongDimensionsAreElided) {
  Tensor t = Tensor::arange(0, 100);
  std::string s = t.to_string();
  EXPECT_NE(s.find("..."), std::string::npos) << s;
  EXPECT_NE(s.find("99"), std::string::npos) << s;
  EXPECT_EQ(s.find("50"), std::string::npos) << s;  // from the middle, elided
  EXPECT_NE(s.find("shape=[100]"), std::string::npos) << s;
}

// ---- allclose ----

TEST(TensorAllclose, ToleranceAndShape) {
  Tensor a = Tensor::from_data({1.0f, 2.0f, 100.0f}, {3});
  Tensor b = Tensor::from_data({1.0f, 2.0f, 100.0f}, {3});
  EXPECT_TRUE(allclose(a, b));
  b.data()[2] = 100.0004f;  // within rtol 1e-5 · 100 = 1e-3
  EXPECT_TRUE(allclose(a, b));
  b.data()[2] = 100.01f;
  EXPECT_FALSE(allclose(a, b));
  EXPECT_TRUE(allclose(a, b, 1e-3f));
  EXPECT_TRUE(allclose(a, b, 0.0f, 0.02f));
  EXPECT_FALSE(allclose(a, b, 0.0f, 0.005f));
  EXPECT_FALSE(allclose(a, a.reshape({3, 1})));  // same values, different shape
  Tensor n = Tensor::from_data({NAN}, {1});
  EXPECT_FALSE(allclose(n, n));
}

// ---- Generator ----

TEST(GeneratorTest, SameSeedSameSequence) {
  Generator a(123), b(123), c(124);
  std::vector<uint64_t> sa, sb, sc;
  for (int i = 0; i < 20; ++i) {
    sa.push_back(a.next_u64());
    sb.push_back(b.next_u64());
    sc.push_back(c.next_u64());
  }
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, sc);
  // Reseeding restarts the sequence (including the cached Box-Muller value).
  a.seed(77);
  float n1 = a.normal();
  float u1 = a.uniform();
  a.seed(77);
  EXPECT_EQ(a.normal(), n1);
  EXPECT_EQ(a.uniform(), u1);
  Generator d(77);
  (void)d.normal();  // leaves a spare
  d.seed(77);
  EXPECT_EQ(d.normal(), n1);
}

TEST(GeneratorTest, DefaultGeneratorManualSeed) {
  manual_seed(5);
  float a = default_generator().uniform();
  manual_seed(5);
  EXPECT_EQ(default_generator().uniform(), a);
  Generator g(5);
  EXPECT_EQ(g.uniform(), a);
}

TEST(GeneratorTest, Ranges) {
  Generator g(1);
  double sum = 0;
  for (int i = 0; i < 100000; ++i) {
    float u = g.uniform();
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    sum += u;
  }
  EXPECT_NEAR(sum / 100000, 0.5, 0.01);
  for (int i = 0; i < 1000; ++i) {
    float v = g.uniform(-2.0f, -1.0f);
    ASSERT_GE(v, -2.0f);
    ASSERT_LT(v, -1.0f);
  }
  std::vector<int> counts(7, 0);
  for (int i = 0; i < 70000; ++i) {
    uint64_t k = g.below(7);
    ASSERT_LT(k, 7u);
    ++counts[k];
  }
  for (int c : counts) EXPECT_NEAR(c, 10000, 500);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(g.below(1), 0u);
  expect_error([&] { (void)g.below(0); }, "Generator::below");
}

TEST(GeneratorTest, NormalMoments) {
  Generator g(11);
  std::vector<float> v(200000);
  for (float& x : v) x = g.normal(-1.0f, 3.0f);
  EXPECT_NEAR(sample_mean(v), -1.0, 0.03);
  EXPECT_NEAR(sample_std(v), 3.0, 0.03);
  for (float x : v) ASSERT_TRUE(std::isfinite(x));
}

// ---- error paths ----

TEST(TensorErrors, NegativeExtent) {
  expect_error([] { (void)Tensor::zeros({2, -1}); }, "negative extent");
  expect_error([] { (void)Tensor::empty({-3}); }, "[-3]");
  expect_error([] { (void)Tensor::ones({-1}); }, "negative extent");
  expect_error([] { (void)Tensor::full({1, -2}, 1.0f); }, "negative extent");
  Generator g;
  expect_error([&] { (void)Tensor::uniform({-1}, 0, 1, g); }, "negative extent");
  expect_error([&] { (void)Tensor::normal({-1}, 0, 1, g); }, "negative extent");
}

TEST(TensorErrors, FromDataCountMismatch) {
  expect_error([] { (void)Tensor::from_data({1, 2, 3}, {2, 2}); }, "Tensor::from_data");
  expect_error(
      [] {
        (void)Tensor::from_data({1, 2, 3}, {2, 2});
      },
      "3 values given for shape [2, 2]");
  expect_error([] { (void)Tensor::from_data({1, 2}, {}); }, "2 values given for shape []");
  std::vector<float> five(5, 1.0f);
  expect_error([&] { (void)Tensor::from_data(five, {2, 3}); }, "(6 elements)");
}

TEST(TensorErrors, ItemOnMoreThanOneElement) {
  expect_error([] { (void)Tensor::zeros({2}).item(); }, "Tensor::item");
  expect_error([] { (void)Tensor::zeros({1, 3}).item(); }, "[1, 3]");
  expect_error([] { (void)Tensor::zeros({0}).item(); }, "one-element");
}

TEST(TensorErrors, AtOutOfRangeOrWrongRank) {
  Tensor t = Tensor::zeros({2, 3});
  expect_error([&] { (void)t.at({2, 0}); }, "out of range");
  expect_error([&] { (void)t.at({0, 3}); }, "Tensor::at");
  expect_error([&] { (void)t.at({0, -1}); }, "out of range");
  expect_error([&] { (void)t.at({0}); }, "1 indices for a tensor of shape [2, 3]");
  expect_error([&] { (void)t.at({0, 0, 0}); }, "3 indices");
  const Tensor& ct = t;
  expect_error([&] { (void)ct.at({5, 5}); }, "Tensor::at");
}

TEST(TensorErrors, ArangeBadStep) {
  expect_error([] { (void)Tensor::arange(0, 5, 0); }, "non-zero step");
  expect_error([] { (void)Tensor::arange(0, NAN); }, "Tensor::arange");
  expect_error([] { (void)Tensor::arange(0, INFINITY); }, "Tensor::arange");
  // The header promises an error when the count would be negative.
  expect_error([] { (void)Tensor::arange(0, 5, -1); }, "Tensor::arange");
  expect_error([] { (void)Tensor::arange(5, 0); }, "never reaches");
  expect_error([] { (void)Tensor::arange(0, -0.5f); }, "never reaches");
}

TEST(TensorErrors, FactoryBadArguments) {
  Generator g;
  expect_error([&] { (void)Tensor::uniform({2}, 1.0f, 0.0f, g); }, "Tensor::uniform");
  expect_error([&] { (void)Tensor::normal({2}, 0.0f, -1.0f, g); }, "stddev");
}

TEST(TensorErrors, UndefinedTensorAccess) {
  Tensor u;
  EXPECT_FALSE(u.defined());
  expect_error([&] { (void)u.shape(); }, "undefined");
  expect_error([&] { (void)u.numel(); }, "undefined");
  expect_error([&] { (void)u.dim(); }, "undefined");
  expect_error([&] { (void)u.data(); }, "undefined");
  expect_error([&] { (void)u.item(); }, "undefined");
  expect_error([&] { (void)u.to_vector(); }, "undefined");
  expect_error([&] { (void)u.at({0}); }, "undefined");
  expect_error([&] { (void)u.requires_grad(); }, "undefined");
  expect_error([&] { u.set_requires_grad(); }, "undefined");
  expect_error([&] { (void)u.is_leaf(); }, "undefined");
  expect_error([&] { (void)u.grad(); }, "undefined");
  expect_error([&] { u.zero_grad(); }, "undefined");
  expect_error([&] { u.clear_grad(); }, "undefined");
  expect_error([&] { u.retain_grad(); }, "undefined");
  expect_error([&] { u.backward(); }, "undefined");
  expect_error([&] { u.backward(Tensor::ones({1})); }, "undefined");
  expect_error([&] { (void)u.detach(); }, "undefined");
  expect_error([&] { (void)u.clone(); }, "undefined");
  expect_error([&] { (void)u.grad_fn(); }, "undefined");
  expect_error([&] { u.fill_(1.0f); }, "undefined");
  expect_error([&] { (void)u.reshape({1}); }, "undefined");
  expect_error([&] { (void)u.flatten(); }, "undefined");
  expect_error([&] { (void)allclose(u, Tensor::ones({1})); }, "undefined");
  Tensor d = Tensor::ones({2});
  expect_error([&] { d.copy_(u); }, "Tensor::copy_");
}

}  // namespace
}  // namespace bp
