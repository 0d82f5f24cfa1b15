// Version counters: in-place changes count on the data, and backward refuses a tensor that an op
// saved and that changed since.
#include "test_util.hpp"

namespace bp {
namespace {

using bp::testing::expect_error;

TEST(Version, InPlaceChangesCountAndViewsShareTheCount) {
  Tensor t = Tensor::zeros({2, 2});
  EXPECT_EQ(t.version(), 0u);
  t.fill_(1.0f);
  EXPECT_EQ(t.version(), 1u);
  t.copy_(Tensor::ones({2, 2}));
  EXPECT_EQ(t.version(), 2u);
  Tensor view = t.reshape({4}), detached = t.detach();
  view.bump_version();
  EXPECT_EQ(t.version(), 3u);
  EXPECT_EQ(detached.version(), 3u);
  EXPECT_EQ(t.clone().version(), 0u);  // a copy has data of its own
  expect_error([] { (void)Tensor().version(); }, "undefined");
}

TEST(Version, ZeroGradChangesTheGradientNotTheData) {
  Tensor w = Tensor::ones({3}, true);
  sum(w * w).backward();
  w.zero_grad();
  EXPECT_EQ(w.version(), 0u);
}

// The regression: dy/dx of y = x·w read w after w had changed, giving 6 instead of 2.
TEST(Version, ChangingAFactorBeforeBackwardNamesTheOp) {
  Tensor x = Tensor::from_data({1}, {1}, true);
  Tensor w = Tensor::from_data({2}, {1}, true);
  Tensor y = x * w;
  w.detach().fill_(6.0f);
  expect_error([&] { y.backward(); },
               "backward: a tensor saved by 'mul' for backward was modified in place (version 1, "
               "expected 0)");
  EXPECT_FALSE(x.grad().defined());
}

TEST(Version, ChangingAPowerInputOrAnActivationOutputNamesTheOp) {
  Tensor x = Tensor::from_data({2}, {1}, true);
  Tensor y = pow(x, 3.0f);
  x.detach().copy_(Tensor::from_data({3}, {1}));
  expect_error([&] { y.backward(); }, "saved by 'pow_scalar'");

  Tensor z = Tensor::from_data({0.5f}, {1}, true);
  Tensor s = sigmoid(z);
  Tensor loss = sum(s);
  s.detach().fill_(0.0f);  // the sigmoid reads its output in backward
  expect_error([&] { loss.backward(); }, "saved by 'sigmoid'");
}

TEST(Version, AnOpThatSavesNothingAllowsInPlaceChanges) {
  Tensor a = Tensor::from_data({1, 2}, {2}, true);
  Tensor b = Tensor::from_data({3, 4}, {2}, true);
  Tensor y = sum(a + b);
  b.detach().fill_(9.0f);
  y.backward();
  EXPECT_EQ(a.grad().to_vector(), (std::vector<float>{1, 1}));
}

TEST(Version, ARetainedGraphIsRefusedAfterAnOptimizerStep) {
  Tensor w = Tensor::from_data({1, 2}, {2}, true);
  Tensor x = Tensor::from_data({3, 4}, {2});
  Tensor loss = sum(x * w);
  loss.backward(/*retain_graph=*/true);
  optim::SGD opt({w}, optim::SGDOptions{.lr = 0.1f});
  const uint64_t before = w.version();
  opt.step();
  EXPECT_EQ(w.version(), before + 1);
  expect_error([&] { loss.backward(); }, "saved by 'mul'");
}

// The usual loop: backward, step, then the next forward saves the new version.
TEST(Version, ATrainingLoopIsNotAffected) {
  Generator gen(5);
  nn::Linear layer(3, 2, gen);
  optim::SGD opt(layer.parameters(), optim::SGDOptions{.lr = 0.1f});
  Tensor x = Tensor::uniform({4, 3}, -1, 1, gen);
  float first = 0, last = 0;
  for (int step = 0; step < 5; ++step) {
    opt.zero_grad();
    Tensor loss = sum(layer.forward(x) * layer.forward(x));
    loss.backward();
    opt.step();
    (step == 0 ? first : last) = loss.item();
  }
  EXPECT_LT(last, first);
}

}  // namespace
}  // namespace bp
