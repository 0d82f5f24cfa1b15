// SGD: plain, momentum, Nesterov and weight decay against hand-computed update sequences; learning
// rate changes, skipped parameters, parameter groups, constructor errors, and bit-for-bit
// reproducible training.
#include <cstring>
#include <memory>

#include "test_util.hpp"

namespace bp {
namespace {

using bp::testing::expect_error;

// One step of loss.backward() then opt.step(), with gradients zeroed first.
void step(optim::Optimizer& opt, const std::function<Tensor()>& loss) {
  opt.zero_grad();
  loss().backward();
  opt.step();
}

void expect_values(const Tensor& t, const std::vector<double>& want, double tol = 1e-6) {
  ASSERT_EQ(static_cast<size_t>(t.numel()), want.size());
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(t.data()[i], want[i], tol) << "element " << i;
}

TEST(SGD, PlainConstantGradient) {
  // L = Σ c·w: g = c. w ← w − lr·c.
  Tensor w = Tensor::from_data({1, -2}, {2}, true);
  Tensor c = Tensor::from_data({1, -4}, {2});
  optim::SGD opt({w}, {.lr = 0.1f});
  step(opt, [&] { return sum(w * c); });
  expect_values(w, {0.9, -1.6});
  step(opt, [&] { return sum(w * c); });
  expect_values(w, {0.8, -1.2});
  step(opt, [&] { return sum(w * c); });
  expect_values(w, {0.7, -0.8});
}

TEST(SGD, PlainQuadratic) {
  // L = Σ w²: g = 2w, so w ← (1 − 2·0.1)·w = 0.8·w.
  Tensor w = Tensor::from_data({1, -3}, {2}, true);
  optim::SGD opt({w}, {.lr = 0.1f});
  step(opt, [&] { return sum(w * w); });
  expect_values(w, {0.8, -2.4});
  step(opt, [&] { return sum(w * w); });
  expect_values(w, {0.64, -1.92});
  step(opt, [&] { return sum(w * w); });
  expect_values(w, {0.512, -1.536});
  step(opt, [&] { return sum(w * w); });
  expect_values(w, {0.4096, -1.2288});
}

TEST(SGD, Momentum) {
  // g = 1, lr 0.1, α 0.9: Δ = −0.1, −0.19, −0.271, −0.3439; w = 0.9, 0.71, 0.439, 0.0951.
  Tensor w = Tensor::from_data({1}, {1}, true);
  optim::SGD opt({w}, {.lr = 0.1f, .momentum = 0.9f});
  EXPECT_FALSE(opt.velocity()[0].defined());
  const std::vector<double> want_w{0.9, 0.71, 0.439, 0.0951};
  const std::vector<double> want_v{-0.1, -0.19, -0.271, -0.3439};
  for (size_t t = 0; t < want_w.size(); ++t) {
    step(opt, [&] { return sum(w); });
    expect_values(w, {want_w[t]});
    ASSERT_TRUE(opt.velocity()[0].defined());
    expect_values(opt.velocity()[0], {want_v[t]});
  }
}

TEST(SGD, MomentumQuadratic) {
  // L = ½·w² (g = w), w0 = 2, lr 0.5, α 0.5:
  // t1: g 2,    Δ = −1,              w = 1
  // t2: g 1,    Δ = −0.5 − 0.5 = −1, w = 0
  // t3: g 0,    Δ = −0.5,            w = −0.5
  // t4: g −0.5, Δ = −0.25 + 0.25 = 0, w = −0.5
  Tensor w = Tensor::from_data({2}, {1}, true);
  optim::SGD opt({w}, {.lr = 0.5f, .momentum = 0.5f});
  const std::vector<double> want{1, 0, -0.5, -0.5};
  for (double expected : want) {
    step(opt, [&] { return sum(w * w) * 0.5f; });
    expect_values(w, {expected});
  }
}

TEST(SGD, Nesterov) {
  // g = 1, lr 0.1, α 0.9: Δ(t) = −0.1, −0.19, −0.271; w += α·Δ(t) − 0.1:
  // −0.19, −0.271, −0.3439 -> w = 0.81, 0.539, 0.1951.
  Tensor w = Tensor::from_data({1}, {1}, true);
  optim::SGD opt({w}, {.lr = 0.1f, .momentum = 0.9f, .nesterov = true});
  const std::vector<double> want_w{0.81, 0.539, 0.1951};
  const std::vector<double> want_v{-0.1, -0.19, -0.271};
  for (size_t t = 0; t < want_w.size(); ++t) {
    step(opt, [&] { return sum(w); });
    expect_values(w, {want_w[t]});
    expect_values(opt.velocity()[0], {want_v[t]});
  }
}

TEST(SGD, WeightDecay) {
  // g = 1, λ = 0.5, lr 0.1, w0 = 2: g + λw = 2, 1.9, 1.805 -> w = 1.8, 1.61, 1.4295.
  Tensor w = Tensor::from_data({2}, {1}, true);
  optim::SGD opt({w}, {.lr = 0.1f, .weight_decay = 0.5f});
  for (double expected : {1.8, 1.61, 1.4295}) {
    step(opt, [&] { return sum(w); });
    expect_values(w, {expected});
  }
}

TEST(SGD, MomentumNesterovAndWeightDecayTogether) {
  // g = 1, λ = 1, lr 0.1, α 0.5, w0 = 1, Nesterov:
  // t1: d = g + λw = 2,     Δ = −0.2,                w += 0.5·(−0.2) − 0.2   = −0.3   -> 0.7
  // t2: d = 1.7,            Δ = −0.1 − 0.17 = −0.27, w += −0.135 − 0.17      = −0.305 -> 0.395
  // t3: d = 1.395,          Δ = −0.135 − 0.1395 = −0.2745,
  //                          w += −0.13725 − 0.1395 = −0.27675               -> 0.11825
  Tensor w = Tensor::from_data({1}, {1}, true);
  optim::SGD opt({w}, {.lr = 0.1f, .momentum = 0.5f, .weight_decay = 1.0f, .nesterov = true});
  const std::vector<double> want_w{0.7, 0.395, 0.11825};
  const std::vector<double> want_v{-0.2, -0.27, -0.2745};
  for (size_t t = 0; t < want_w.size(); ++t) {
    step(opt, [&] { return sum(w); });
    expect_values(w, {want_w[t]});
    expect_values(opt.velocity()[0], {want_v[t]});
  }
}

TEST(SGD, ElementwiseOnTensors) {
  // Two elements with different gradients follow independent trajectories (α 0.5, lr 1):
  // g = c = [1, −2]: Δ1 = −c, Δ2 = −0.5c − c = −1.5c, Δ3 = −0.75c − c = −1.75c.
  Tensor w = Tensor::zeros({2, 1}, true);
  Tensor c = Tensor::from_data({1, -2}, {2, 1});
  optim::SGD opt({w}, {.lr = 1.0f, .momentum = 0.5f});
  step(opt, [&] { return sum(w * c); });
  expect_values(w, {-1, 2});
  step(opt, [&] { return sum(w * c); });
  expect_values(w, {-2.5, 5});
  step(opt, [&] { return sum(w * c); });
  expect_values(w, {-4.25, 8.5});
}

TEST(SGD, SetLrTakesEffectAtTheNextStep) {
  Tensor w = Tensor::from_data({1}, {1}, true);
  optim::SGD opt({w}, {.lr = 0.1f});
  EXPECT_FLOAT_EQ(opt.lr(), 0.1f);
  step(opt, [&] { return sum(w); });
  expect_values(w, {0.9});
  opt.set_lr(0.5f);
  EXPECT_FLOAT_EQ(opt.lr(), 0.5f);
  EXPECT_FLOAT_EQ(opt.param_groups()[0].lr, 0.5f);
  step(opt, [&] { return sum(w); });
  expect_values(w, {0.4});
  opt.set_lr(0.0f);
  step(opt, [&] { return sum(w); });
  expect_values(w, {0.4});
  expect_error([&] { opt.set_lr(-1.0f); }, "learning rate must be >= 0");
  expect_error([&] { opt.set_lr(NAN); }, "learning rate");
  EXPECT_FLOAT_EQ(opt.lr(), 0.0f);

  // With momentum the velocity carries over: Δ1 = −0.1, then at lr 0.01 Δ2 = −0.09 − 0.01.
  Tensor m = Tensor::from_data({1}, {1}, true);
  optim::SGD mom({m}, {.lr = 0.1f, .momentum = 0.9f});
  step(mom, [&] { return sum(m); });
  mom.set_lr(0.01f);
  step(mom, [&] { return sum(m); });
  expect_values(m, {0.8});
  expect_values(mom.velocity()[0], {-0.1});
}

TEST(SGD, ParametersWithoutGradAreSkipped) {
  Tensor a = Tensor::from_data({1, 1}, {2}, true);
  Tensor b = Tensor::from_data({5, 6}, {2}, true);
  optim::SGD opt({a, b}, {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 0.1f});
  step(opt, [&] { return sum(a); });  // b gets no gradient
  expect_values(a, {1 - 0.1 * 1.1, 1 - 0.1 * 1.1});
  EXPECT_EQ(b.to_vector(), (std::vector<float>{5, 6}));  // not even weight decay
  EXPECT_FALSE(b.grad().defined());
  ASSERT_EQ(opt.velocity().size(), 2u);
  EXPECT_TRUE(opt.velocity()[0].defined());
  EXPECT_FALSE(opt.velocity()[1].defined());
  // A zeroed (but defined) gradient is not skipped: weight decay still applies.
  sum(b).backward();
  b.zero_grad();
  opt.step();
  expect_values(b, {5 - 0.1 * 0.5, 6 - 0.1 * 0.6}, 1e-5);
}

TEST(SGD, ParamGroupsHaveTheirOwnHyperParameters) {
  Tensor a = Tensor::from_data({1}, {1}, true);
  Tensor b = Tensor::from_data({1}, {1}, true);
  optim::SGD opt(std::vector<optim::ParamGroup>{{{a}, 0.1f, 0.0f}, {{b}, 0.5f, 1.0f}},
                 optim::SGDOptions{});
  EXPECT_EQ(opt.velocity().size(), 2u);
  step(opt, [&] { return sum(a) + sum(b); });
  expect_values(a, {0.9});
  expect_values(b, {1 - 0.5 * 2});
  EXPECT_FLOAT_EQ(opt.lr(), 0.1f);
  opt.set_lr(0.2f);
  EXPECT_FLOAT_EQ(opt.param_groups()[1].lr, 0.2f);
  step(opt, [&] { return sum(a) + sum(b); });
  expect_values(a, {0.7});
  expect_values(b, {0 - 0.2 * 1});
}

TEST(SGD, ZeroGradZeroesEveryParameter) {
  Tensor a = Tensor::ones({2}, true), b = Tensor::ones({3}, true);
  optim::SGD opt({a, b}, {.lr = 0.1f});
  sum(a * 2.0f).backward();
  sum(b * 3.0f).backward();
  opt.zero_grad();
  EXPECT_EQ(a.grad().to_vector(), (std::vector<float>{0, 0}));
  EXPECT_EQ(b.grad().to_vector(), (std::vector<float>{0, 0, 0}));
}

TEST(SGD, ConstructorErrors) {
  Tensor w = Tensor::ones({2}, true);
  expect_error([&] { optim::SGD({w}, {.lr = -0.1f}); }, "learning rate must be >= 0 (got -0.1)");
  expect_error([&] { optim::SGD({w}, {.lr = NAN}); }, "learning rate");
  expect_error([&] { optim::SGD({w}, {.lr = 0.1f, .momentum = 1.0f}); },
               "SGD: momentum must be in [0, 1) (got 1)");
  expect_error([&] { optim::SGD({w}, {.lr = 0.1f, .momentum = 1.5f}); }, "momentum");
  expect_error([&] { optim::SGD({w}, {.lr = 0.1f, .momentum = -0.1f}); }, "momentum");
  expect_error([&] { optim::SGD({w}, {.lr = 0.1f, .nesterov = true}); },
               "SGD: Nesterov needs a positive momentum");
  expect_error([&] { optim::SGD({w}, {.lr = 0.1f, .weight_decay = -1.0f}); },
               "weight decay must be >= 0");
  Tensor no_grad = Tensor::ones({2});
  expect_error([&] { optim::SGD({no_grad}, {.lr = 0.1f}); }, "requires_grad");
  Tensor non_leaf = w * 2.0f;
  expect_error([&] { optim::SGD({non_leaf}, {.lr = 0.1f}); }, "leaf");
  expect_error([&] { optim::SGD({Tensor()}, {.lr = 0.1f}); }, "defined");
  // Valid edge values do not throw.
  optim::SGD ok({w}, {.lr = 0.0f, .momentum = 0.0f});
  EXPECT_FLOAT_EQ(ok.options().momentum, 0.0f);
}

// ---- reproducibility ----

// Trains a 3-8-8-1 MLP on a fixed regression task for 20 steps; returns the final weights and
// the first and last losses.
struct TrainResult {
  std::vector<std::vector<float>> weights;
  float first_loss = 0, last_loss = 0;
};

TrainResult train_mlp(uint64_t seed) {
  Generator gen(seed);
  nn::Sequential net(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(3, 8, gen), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(8, 8, gen), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(8, 1, gen)});
  Generator data_gen(1234);  // the same data for every seed
  Tensor x = Tensor::uniform({32, 3}, -1, 1, data_gen);
  Tensor y = Tensor::empty({32, 1});
  for (int64_t i = 0; i < 32; ++i)
    y.at({i, 0}) = x.at({i, 0}) - 2.0f * x.at({i, 1}) + 0.5f * x.at({i, 2}) * x.at({i, 2});
  optim::SGD opt(net.parameters(), {.lr = 0.05f, .momentum = 0.9f, .weight_decay = 1e-4f});
  TrainResult r;
  for (int s = 0; s < 20; ++s) {
    opt.zero_grad();
    Tensor loss = mse_loss(net(x), y);
    if (s == 0) r.first_loss = loss.item();
    r.last_loss = loss.item();
    loss.backward();
    opt.step();
  }
  for (const Tensor& p : net.parameters()) r.weights.push_back(p.to_vector());
  return r;
}

bool bitwise_equal(const std::vector<std::vector<float>>& a,
                   const std::vector<std::vector<float>>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].size() != b[i].size()) return false;
    if (std::memcmp(a[i].data(), b[i].data(), a[i].size() * sizeof(float)) != 0) return false;
  }
  return true;
}

TEST(SGD, TrainingIsBitForBitReproducible) {
  TrainResult a = train_mlp(42), b = train_mlp(42), c = train_mlp(43);
  ASSERT_EQ(a.weights.size(), 6u);
  EXPECT_TRUE(bitwise_equal(a.weights, b.weights));
  EXPECT_EQ(a.last_loss, b.last_loss);
  EXPECT_FALSE(bitwise_equal(a.weights, c.weights));
  // Training did something: the loss went down.
  EXPECT_LT(a.last_loss, a.first_loss);
  EXPECT_LT(c.last_loss, c.first_loss);
}

}  // namespace
}  // namespace bp
