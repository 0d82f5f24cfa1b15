// The bf16 copies that matrix products read under bf16 precision: kept with a tensor's storage
// (core's bf16_copy()), made once per version of the data and never served once the data has
// changed; gemm reads a caller's copy only when it computes in bf16; and linear under bf16 follows
// in-place changes of its weights, within bf16's bound of fp32 (2·2^-8 per product of operands in
// [-1, 1], summed over the reduction length L: L·2^-7).
#include <omp.h>

#include <array>
#include <atomic>
#include <bit>
#include <cmath>

#include "core/tensor_impl.hpp"
#include "kernels/kernels.hpp"
#include "test_util.hpp"

namespace bp {
namespace {

std::atomic<int> conversions{0};

// kernels::to_bf16, counted.
void counting_convert(const float* x, uint16_t* y, int64_t n) {
  conversions.fetch_add(1);
  kernels::reference::to_bf16(x, y, n);
}

float from_bf16(uint16_t h) {
  return std::bit_cast<float>(static_cast<uint32_t>(h) << 16);
}

// Rows [begin, end) of a 2-D tensor, sharing its storage (as the trainer's batch shards do).
Tensor rows_of(const Tensor& t, int64_t begin, int64_t end) {
  auto impl = std::make_shared<TensorImpl>(*t.impl());
  impl->offset += begin * t.size(1);
  impl->shape = {end - begin, t.size(1)};
  impl->count = (end - begin) * t.size(1);
  return Tensor(std::move(impl));
}

Tensor uniform(const Shape& shape, Generator& gen) {
  return Tensor::uniform(shape, -1, 1, gen);
}

TEST(Bf16Copies, MadeOncePerVersionAndNeverStale) {
  Generator gen(1);
  Tensor w = uniform({8, 16}, gen);
  conversions = 0;
  auto first = bf16_copy(w, counting_convert);
  auto again = bf16_copy(w.detach().reshape({128}), counting_convert);  // same data, same copy
  EXPECT_EQ(conversions, 1);
  EXPECT_EQ(first.get(), again.get());
  const float original = w.data()[5], rounded = from_bf16(first->data[5]);
  EXPECT_NEAR(rounded, original, std::fabs(original) * std::ldexp(1.0, -8));
  // Every in-place change makes the next copy anew, from the new values.
  w.fill_(0.5f);
  auto filled = bf16_copy(w, counting_convert);
  EXPECT_EQ(conversions, 2);
  EXPECT_EQ(from_bf16(filled->data[5]), 0.5f);
  w.copy_(Tensor::full({8, 16}, -2.0f));
  EXPECT_EQ(from_bf16(bf16_copy(w, counting_convert)->data[127]), -2.0f);
  w.data()[3] = 4.0f;
  w.bump_version();
  EXPECT_EQ(from_bf16(bf16_copy(w, counting_convert)->data[3]), 4.0f);
  EXPECT_EQ(conversions, 4);
  // The storage keeps only the current version's copy; a holder's old copy stays valid.
  EXPECT_EQ(w.impl()->storage->bf16_copies.size(), 1u);
  EXPECT_EQ(from_bf16(first->data[5]), rounded);
  EXPECT_EQ(from_bf16(filled->data[127]), 0.5f);
}

TEST(Bf16Copies, OnePerPartOfTheStorageAndBounded) {
  Generator gen(2);
  const int64_t parts = static_cast<int64_t>(kMaxBf16Copies) + 6;
  Tensor x = uniform({parts, 4}, gen);
  conversions = 0;
  auto top = bf16_copy(rows_of(x, 0, 2), counting_convert);
  auto bottom = bf16_copy(rows_of(x, 2, 4), counting_convert);
  EXPECT_EQ(conversions, 2);
  for (int64_t i = 0; i < 8; ++i) {
    EXPECT_EQ(from_bf16(top->data[i]), from_bf16(bf16_copy(x, counting_convert)->data[i]));
    EXPECT_EQ(from_bf16(bottom->data[i]), from_bf16(bf16_copy(x, counting_convert)->data[8 + i]));
  }
  for (int64_t r = 0; r < parts; ++r) bf16_copy(rows_of(x, r, r + 1), counting_convert);
  EXPECT_EQ(x.impl()->storage->bf16_copies.size(), kMaxBf16Copies);
}

TEST(Bf16Copies, ThreadsAskingAtOnceConvertOnce) {
  Generator gen(3);
  Tensor w = uniform({256, 784}, gen);
  conversions = 0;
  std::vector<const uint16_t*> seen(4);
#pragma omp parallel num_threads(4)
  seen[static_cast<size_t>(omp_get_thread_num())] = bf16_copy(w, counting_convert)->data;
  EXPECT_EQ(conversions, 1);
  for (const uint16_t* p : seen) EXPECT_EQ(p, seen[0]);
}

// A Bf16Source that converts its operand and counts its calls.
class CountingSource final : public kernels::Bf16Source {
 public:
  explicit CountingSource(const std::vector<float>& x) : x_(x), copy_(x.size()) {}
  const uint16_t* bf16() override {
    ++calls;
    kernels::to_bf16(x_.data(), copy_.data(), static_cast<int64_t>(x_.size()));
    return copy_.data();
  }
  int calls = 0;

 private:
  const std::vector<float>& x_;
  std::vector<uint16_t> copy_;
};

// With its operands' copies a bf16 product gives what it gives converting them itself (the same
// bf16 values; only fp32 accumulation's order may differ), and it asks for them only when it
// computes in bf16.
TEST(Bf16Copies, GemmReadsTheCallersCopiesOnlyInBf16) {
  Generator gen(4);
  for (auto [m, n, k, ta, tb] : {std::tuple{64, 48, 130, false, true},
                                 {7, 5, 13, true, false},
                                 {128, 256, 784, false, true},
                                 {1, 10, 128, false, true}}) {
    SCOPED_TRACE(fmt::format("m={} n={} k={} ta={} tb={}", m, n, k, ta, tb));
    std::vector<float> a(static_cast<size_t>(m * k)), b(static_cast<size_t>(k * n));
    for (float& v : a) v = gen.uniform(-1, 1);
    for (float& v : b) v = gen.uniform(-1, 1);
    const int64_t lda = ta ? m : k, ldb = tb ? k : n;
    std::vector<float> want(static_cast<size_t>(m * n)), got(want.size());
    for (Precision precision : {Precision::fp32, Precision::bf16}) {
      const PrecisionGuard guard(precision);
      CountingSource sa(a), sb(b);
      kernels::gemm(ta, tb, m, n, k, 1, a.data(), lda, b.data(), ldb, 0, want.data(), n);
      kernels::gemm(ta, tb, m, n, k, 1, a.data(), lda, b.data(), ldb, 0, got.data(), n, {&sa, &sb});
      for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-6 * k) << "at " << i;
      // One row runs the fp32 matrix-vector loop; without bf16 matmul, oneDNN computes in fp32.
      const int expected = precision == Precision::bf16 && m > 1 && bf16_native() ? 1 : 0;
      EXPECT_EQ(sa.calls, expected);
      EXPECT_EQ(sb.calls, expected);
    }
  }
}

// y = x·wᵀ and, for the loss sum(y ⊙ g), gx = g·w and gw = gᵀ·x, in `precision`.
std::array<Tensor, 3> linear_and_grads(const Tensor& x, const Tensor& w, const Tensor& g,
                                       Precision precision) {
  const PrecisionGuard guard(precision);
  x.impl()->grad.reset();
  w.impl()->grad.reset();
  Tensor y = linear(x, w, Tensor());
  sum(y * g).backward();
  return {y.detach(), x.grad(), w.grad()};
}

// Each of bf16's results within L·2^-7 of fp32's, L its reduction length; returns the largest
// difference of y.
double expect_bf16_near_fp32(const Tensor& x, const Tensor& w, const Tensor& g) {
  const auto want = linear_and_grads(x, w, g, Precision::fp32);
  const auto got = linear_and_grads(x, w, g, Precision::bf16);
  const std::array<int64_t, 3> length{x.size(1), w.size(0), x.size(0)};
  double worst = 0;
  for (size_t r = 0; r < 3; ++r) {
    const double bound = std::ldexp(1.0, -7) * static_cast<double>(length[r]) + 1e-5;
    for (int64_t i = 0; i < want[r].numel(); ++i) {
      const double d = std::fabs(got[r].data()[i] - want[r].data()[i]);
      EXPECT_LE(d, bound) << "result " << r << " at " << i;
      if (r == 0) worst = std::max(worst, d);
    }
  }
  return worst;
}

// The weight's bf16 copy is kept from one product to the next, yet every in-place change of the
// weight (copy_, fill_, an optimizer's step, a write announced by bump_version) reaches the next
// product, forward and backward.
TEST(Bf16Copies, LinearFollowsInPlaceChangesOfItsWeight) {
  Generator gen(5);
  Tensor x = Tensor::uniform({32, 64}, -1, 1, gen, true);
  Tensor w = Tensor::uniform({16, 64}, -1, 1, gen, true);
  const Tensor g = Tensor::uniform({32, 16}, -1, 1, gen);
  const double worst = expect_bf16_near_fp32(x, w, g);
  if (bf16_native()) {
    EXPECT_GT(worst, 1e-4) << "the products ran in fp32";
  }
  auto bf16_y = [&] {
    const PrecisionGuard guard(Precision::bf16);
    const NoGradGuard no_grad;
    return linear(x, w, Tensor());
  };
  const Tensor before = bf16_y();
  w.detach().copy_(Tensor::uniform({16, 64}, -1, 1, gen));
  expect_bf16_near_fp32(x, w, g);
  EXPECT_GT(std::fabs(bf16_y().data()[0] - before.data()[0]), 1e-3);
  w.detach().fill_(0.25f);
  expect_bf16_near_fp32(x, w, g);
  w.detach().data()[0] = -1.0f;
  w.bump_version();
  expect_bf16_near_fp32(x, w, g);
  // An SGD step with a large rate moves every weight well beyond bf16's rounding.
  optim::SGD sgd({w}, {.lr = 0.5f});
  const Tensor stepped_from = bf16_y();
  linear_and_grads(x, w, g, Precision::bf16);
  sgd.step();
  expect_bf16_near_fp32(x, w, g);
  EXPECT_GT(std::fabs(bf16_y().data()[0] - stepped_from.data()[0]), 1e-3);
}

}  // namespace
}  // namespace bp
