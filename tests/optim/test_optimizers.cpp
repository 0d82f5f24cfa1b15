// Adagrad, RMSprop, Adam, AdamW, Adamax and NAdam: several steps on a small quadratic against
// hand-computed values and against double-precision evaluations of PyTorch 1.13's formulas, with
// weight decay and each variant (amsgrad, centered, momentum); per-group learning rates; skipped
// parameters; state round trips that continue bit for bit; option and state validation; the
// factory; gradient clipping and weight penalties.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "test_util.hpp"

namespace bp {
namespace {

using bp::testing::expect_error;

// The problem: L = Σ ½·aᵢ·wᵢ² + bᵢ·wᵢ, so g = a·w + b, on three weights.
const std::vector<double> kA{1.0, 0.5, 2.0};
const std::vector<double> kB{0.3, -0.2, 0.0};
const std::vector<float> kW0{0.5f, -1.5f, 2.0f};

Tensor make_weights() {
  return Tensor::from_data(kW0, {3}, true);
}

Tensor loss_of(const Tensor& w) {
  Tensor a = Tensor::from_data({1.0f, 0.5f, 2.0f}, {3});
  Tensor b = Tensor::from_data({0.3f, -0.2f, 0.0f}, {3});
  return sum(a * w * w * 0.5f + b * w);
}

void step(optim::Optimizer& opt, const Tensor& w) {
  opt.zero_grad();
  loss_of(w).backward();
  opt.step();
}

// A double-precision model of one optimizer: given w and g (g already includes nothing), update w.
using Reference = std::function<void(std::vector<double>& w, const std::vector<double>& g)>;

// Runs `steps` steps of `opt` and of `ref` side by side, comparing after each.
void compare(optim::Optimizer& opt, const Tensor& w, Reference ref, int steps = 6,
             double rtol = 2e-5) {
  std::vector<double> wd(kW0.begin(), kW0.end());
  for (int t = 1; t <= steps; ++t) {
    std::vector<double> g(3);
    for (size_t i = 0; i < 3; ++i) g[i] = kA[i] * wd[i] + kB[i];
    ref(wd, g);
    step(opt, w);
    for (size_t i = 0; i < 3; ++i)
      EXPECT_NEAR(w.data()[i], wd[i], rtol * std::max(1.0, std::fabs(wd[i])))
          << "step " << t << ", element " << i;
  }
}

double d(float v) {
  return static_cast<double>(v);
}

// ---- Adagrad ----

TEST(Adagrad, FirstStepsByHand) {
  // One weight, L = w²/2 + 0 (g = w), w0 = 1, lr 0.1, eps ~0:
  // t1: g 1, s 1, w = 1 − 0.1·1/1 = 0.9
  // t2: g 0.9, s 1.81, w = 0.9 − 0.1·0.9/√1.81 = 0.833104…
  Tensor w = Tensor::from_data({1.0f}, {1}, true);
  optim::Adagrad opt({w}, {.lr = 0.1f, .eps = 1e-30f});
  auto quad = [&] {
    opt.zero_grad();
    (sum(w * w) * 0.5f).backward();
    opt.step();
  };
  quad();
  EXPECT_NEAR(w.item(), 0.9, 1e-7);
  quad();
  EXPECT_NEAR(w.item(), 0.9 - 0.09 / std::sqrt(1.81), 1e-6);
}

Reference adagrad_ref(const optim::AdagradOptions& o) {
  auto s = std::make_shared<std::vector<double>>(3, d(o.initial_accumulator_value));
  auto t = std::make_shared<int>(0);
  return [=](std::vector<double>& w, const std::vector<double>& g0) {
    ++*t;
    const double clr = d(o.lr) / (1 + (*t - 1) * d(o.lr_decay));
    for (size_t i = 0; i < 3; ++i) {
      const double g = g0[i] + d(o.weight_decay) * w[i];
      (*s)[i] += g * g;
      w[i] -= clr * g / (std::sqrt((*s)[i]) + d(o.eps));
    }
  };
}

TEST(Adagrad, MatchesFormula) {
  for (optim::AdagradOptions o :
       {optim::AdagradOptions{.lr = 0.1f}, optim::AdagradOptions{.lr = 0.2f,
                                           .lr_decay = 0.1f,
                                           .weight_decay = 0.05f,
                                           .initial_accumulator_value = 0.5f,
                                           .eps = 1e-3f}}) {
    Tensor w = make_weights();
    optim::Adagrad opt({w}, o);
    compare(opt, w, adagrad_ref(o));
  }
}

// ---- RMSprop ----

Reference rmsprop_ref(const optim::RMSpropOptions& o) {
  struct S {
    std::vector<double> v = std::vector<double>(3, 0.0), ga = v, buf = v;
  };
  auto s = std::make_shared<S>();
  return [=](std::vector<double>& w, const std::vector<double>& g0) {
    const double alpha = d(o.alpha);
    for (size_t i = 0; i < 3; ++i) {
      const double g = g0[i] + d(o.weight_decay) * w[i];
      s->v[i] = alpha * s->v[i] + (1 - alpha) * g * g;
      double avg = s->v[i];
      if (o.centered) {
        s->ga[i] = alpha * s->ga[i] + (1 - alpha) * g;
        avg -= s->ga[i] * s->ga[i];
      }
      avg = std::sqrt(avg) + d(o.eps);
      if (o.momentum > 0) {
        s->buf[i] = d(o.momentum) * s->buf[i] + g / avg;
        w[i] -= d(o.lr) * s->buf[i];
      } else {
        w[i] -= d(o.lr) * g / avg;
      }
    }
  };
}

TEST(RMSprop, FirstStepByHand) {
  // v = (1 − α)·g², so the first step is lr·g/(√(1−α)·|g| + eps) = lr/√0.01 = 10·lr in size.
  Tensor w = make_weights();
  optim::RMSprop opt({w}, {.lr = 0.01f, .alpha = 0.99f, .eps = 1e-30f});
  step(opt, w);
  // g = (0.8, −0.95, 4): every weight moves by 0.1·sign(g) (up to float rounding of 1 − α).
  EXPECT_NEAR(w.data()[0], 0.4, 1e-5);
  EXPECT_NEAR(w.data()[1], -1.4, 1e-5);
  EXPECT_NEAR(w.data()[2], 1.9, 1e-5);
}

TEST(RMSprop, MatchesFormulaWithVariants) {
  for (optim::RMSpropOptions o :
       {optim::RMSpropOptions{.lr = 0.01f},
        optim::RMSpropOptions{.lr = 0.01f, .alpha = 0.9f, .weight_decay = 0.1f},
        optim::RMSpropOptions{.lr = 0.005f, .alpha = 0.9f, .momentum = 0.8f},
        optim::RMSpropOptions{.lr = 0.005f, .alpha = 0.8f, .eps = 1e-6f, .centered = true},
        optim::RMSpropOptions{.lr = 0.002f,
        .alpha = 0.95f,
        .weight_decay = 0.01f,
        .momentum = 0.5f,
        .centered = true}}) {
    Tensor w = make_weights();
    optim::RMSprop opt({w}, o);
    compare(opt, w, rmsprop_ref(o), 8);
  }
}

// ---- Adam / AdamW ----

Reference adam_ref(const optim::AdamOptions& o, bool decoupled) {
  struct S {
    std::vector<double> m = std::vector<double>(3, 0.0), v = m, vmax = m;
    int t = 0;
  };
  auto s = std::make_shared<S>();
  return [=](std::vector<double>& w, const std::vector<double>& g0) {
    const double b1 = d(o.beta1), b2 = d(o.beta2), lr = d(o.lr), wd = d(o.weight_decay);
    ++s->t;
    const double bc1 = 1 - std::pow(b1, s->t), bc2 = 1 - std::pow(b2, s->t);
    for (size_t i = 0; i < 3; ++i) {
      if (decoupled) w[i] *= 1 - lr * wd;
      const double g = decoupled ? g0[i] : g0[i] + wd * w[i];
      s->m[i] = b1 * s->m[i] + (1 - b1) * g;
      s->v[i] = b2 * s->v[i] + (1 - b2) * g * g;
      s->vmax[i] = std::max(s->vmax[i], s->v[i]);
      const double v = o.amsgrad ? s->vmax[i] : s->v[i];
      w[i] -= lr / bc1 * s->m[i] / (std::sqrt(v) / std::sqrt(bc2) + d(o.eps));
    }
  };
}

TEST(Adam, FirstStepIsLrTimesSign) {
  // m̂ = g and v̂ = g² after one step, so Δw = −lr·g/(|g| + eps) ≈ −lr·sign(g).
  Tensor w = make_weights();
  optim::Adam opt({w}, {.lr = 0.1f});
  step(opt, w);
  EXPECT_NEAR(w.data()[0], 0.4, 1e-6);
  EXPECT_NEAR(w.data()[1], -1.4, 1e-6);
  EXPECT_NEAR(w.data()[2], 1.9, 1e-6);
  EXPECT_EQ(opt.kind(), "adam");
}

TEST(Adam, MatchesFormulaWithVariants) {
  for (optim::AdamOptions o :
       {optim::AdamOptions{.lr = 0.1f},
        optim::AdamOptions{.lr = 0.05f, .beta1 = 0.8f, .beta2 = 0.9f, .weight_decay = 0.1f},
        optim::AdamOptions{.lr = 0.3f, .beta1 = 0.5f, .beta2 = 0.6f, .eps = 1e-3f, .amsgrad = true},
        optim::AdamOptions{.lr = 0.3f, .beta2 = 0.5f, .weight_decay = 0.2f, .amsgrad = true}}) {
    Tensor w = make_weights();
    optim::Adam opt({w}, o);
    compare(opt, w, adam_ref(o, false), 10);
  }
}

TEST(Adam, AmsgradKeepsTheMaximum) {
  // With a shrinking gradient v falls, but the amsgrad denominator does not.
  Tensor w = make_weights();
  optim::Adam opt({w}, {.lr = 0.3f, .beta2 = 0.5f, .amsgrad = true});
  for (int t = 0; t < 5; ++t) step(opt, w);
  auto state = opt.state();
  Tensor v, vmax;
  for (auto& [name, t] : state) {
    if (name == "exp_avg_sq.0") v = t;
    if (name == "max_exp_avg_sq.0") vmax = t;
  }
  ASSERT_TRUE(v.defined() && vmax.defined());
  for (int64_t i = 0; i < 3; ++i) EXPECT_GE(vmax.data()[i], v.data()[i]);
  EXPECT_GT(vmax.data()[2], v.data()[2]);
}

TEST(AdamW, DecouplesWeightDecay) {
  // With a zero gradient, AdamW only shrinks: w ← w·(1 − lr·λ); Adam with L2 would move by ≈ lr.
  Tensor w = Tensor::from_data({2.0f}, {1}, true);
  optim::AdamWOptions o;
  o.lr = 0.1f;
  o.weight_decay = 0.5f;
  optim::AdamW opt({w}, o);
  EXPECT_EQ(opt.kind(), "adamw");
  for (int t = 0; t < 3; ++t) {
    opt.zero_grad();
    sum(w * 0.0f).backward();
    opt.step();
  }
  EXPECT_NEAR(w.item(), 2.0 * std::pow(0.95, 3), 1e-6);
  EXPECT_FLOAT_EQ(optim::AdamWOptions{}.weight_decay, 0.01f);
}

TEST(AdamW, MatchesFormulaWithVariants) {
  for (bool amsgrad : {false, true}) {
    optim::AdamWOptions o;
    o.lr = 0.05f;
    o.beta1 = 0.8f;
    o.beta2 = 0.7f;
    o.weight_decay = 0.3f;
    o.amsgrad = amsgrad;
    Tensor w = make_weights();
    optim::AdamW opt({w}, o);
    compare(opt, w, adam_ref(o, true), 10);
  }
}

// ---- Adamax ----

Reference adamax_ref(const optim::AdamaxOptions& o) {
  struct S {
    std::vector<double> m = std::vector<double>(3, 0.0), u = m;
    int t = 0;
  };
  auto s = std::make_shared<S>();
  return [=](std::vector<double>& w, const std::vector<double>& g0) {
    const double b1 = d(o.beta1);
    ++s->t;
    for (size_t i = 0; i < 3; ++i) {
      const double g = g0[i] + d(o.weight_decay) * w[i];
      s->m[i] = b1 * s->m[i] + (1 - b1) * g;
      s->u[i] = std::max(d(o.beta2) * s->u[i], std::fabs(g) + d(o.eps));
      w[i] -= d(o.lr) / (1 - std::pow(b1, s->t)) * s->m[i] / s->u[i];
    }
  };
}

TEST(Adamax, FirstStepByHand) {
  // m̂ = g, u = |g| + eps: Δw = −lr·g/(|g| + eps).
  Tensor w = make_weights();
  optim::Adamax opt({w}, {.lr = 0.02f, .eps = 1e-30f});
  step(opt, w);
  EXPECT_NEAR(w.data()[0], 0.48, 1e-6);
  EXPECT_NEAR(w.data()[1], -1.48, 1e-6);
  EXPECT_NEAR(w.data()[2], 1.98, 1e-6);
}

TEST(Adamax, MatchesFormula) {
  for (optim::AdamaxOptions o :
       {optim::AdamaxOptions{.lr = 0.1f},
        optim::AdamaxOptions{
            .lr = 0.2f, .beta1 = 0.7f, .beta2 = 0.5f, .eps = 1e-3f, .weight_decay = 0.1f}}) {
    Tensor w = make_weights();
    optim::Adamax opt({w}, o);
    compare(opt, w, adamax_ref(o), 10);
  }
}

// ---- NAdam ----

Reference nadam_ref(const optim::NAdamOptions& o) {
  struct S {
    std::vector<double> m = std::vector<double>(3, 0.0), v = m;
    int t = 0;
    double mu_product = 1;
  };
  auto s = std::make_shared<S>();
  return [=](std::vector<double>& w, const std::vector<double>& g0) {
    const double b1 = d(o.beta1), b2 = d(o.beta2), lr = d(o.lr), psi = d(o.momentum_decay);
    const int t = ++s->t;
    const double mu = b1 * (1 - 0.5 * std::pow(0.96, t * psi));
    const double mu_next = b1 * (1 - 0.5 * std::pow(0.96, (t + 1) * psi));
    s->mu_product *= mu;
    const double mu_product_next = s->mu_product * mu * mu_next;  // PyTorch 1.13
    const double bc2 = 1 - std::pow(b2, t);
    for (size_t i = 0; i < 3; ++i) {
      const double g = g0[i] + d(o.weight_decay) * w[i];
      s->m[i] = b1 * s->m[i] + (1 - b1) * g;
      s->v[i] = b2 * s->v[i] + (1 - b2) * g * g;
      const double denom = std::sqrt(s->v[i] / bc2) + d(o.eps);
      w[i] -= lr * (1 - mu) / (1 - s->mu_product) * g / denom;
      w[i] -= lr * mu_next / (1 - mu_product_next) * s->m[i] / denom;
    }
  };
}

TEST(NAdam, FirstStepByHand) {
  // t = 1, ψ = 0.004, β₁ = 0.9: μ₁ = 0.9·(1 − ½·0.96^0.004), μ₂ = 0.9·(1 − ½·0.96^0.008);
  // m = 0.1·g, d = |g| + eps, so Δw = −lr·sign(g)·((1−μ₁)/(1−μ₁) + 0.1·μ₂/(1 − μ₁²·μ₂)).
  const double mu1 = 0.9 * (1 - 0.5 * std::pow(0.96, 0.004));
  const double mu2 = 0.9 * (1 - 0.5 * std::pow(0.96, 0.008));
  const double size = 0.01 * (1 + 0.1 * mu2 / (1 - mu1 * mu1 * mu2));
  Tensor w = make_weights();
  optim::NAdam opt({w}, {.lr = 0.01f, .eps = 1e-30f});
  step(opt, w);
  EXPECT_NEAR(w.data()[0], 0.5 - size, 1e-6);
  EXPECT_NEAR(w.data()[1], -1.5 + size, 1e-6);
  EXPECT_NEAR(w.data()[2], 2.0 - size, 1e-6);
}

TEST(NAdam, MatchesFormula) {
  for (optim::NAdamOptions o : {optim::NAdamOptions{.lr = 0.05f}, optim::NAdamOptions{.lr = 0.1f,
                                                                  .beta1 = 0.8f,
                                                                  .beta2 = 0.9f,
                                                                  .eps = 1e-4f,
                                                                  .weight_decay = 0.1f,
                                                                  .momentum_decay = 0.1f}}) {
    Tensor w = make_weights();
    optim::NAdam opt({w}, o);
    compare(opt, w, nadam_ref(o), 10);
  }
}

// ---- shared behaviour ----

// Every adaptive optimizer, with non-default options, behind one interface.
std::vector<std::function<std::unique_ptr<optim::Optimizer>(std::vector<optim::ParamGroup>)>>
all_optimizers() {
  using G = std::vector<optim::ParamGroup>;
  return {
      [](G g) {
        return std::make_unique<optim::Adagrad>(std::move(g),
                                                optim::AdagradOptions{.lr_decay = 0.01f});
      },
      [](G g) {
        return std::make_unique<optim::RMSprop>(
            std::move(g), optim::RMSpropOptions{.momentum = 0.5f, .centered = true});
      },
      [](G g) {
        return std::make_unique<optim::Adam>(std::move(g), optim::AdamOptions{.amsgrad = true});
      },
      [](G g) { return std::make_unique<optim::AdamW>(std::move(g), optim::AdamWOptions{}); },
      [](G g) { return std::make_unique<optim::Adamax>(std::move(g), optim::AdamaxOptions{}); },
      [](G g) { return std::make_unique<optim::NAdam>(std::move(g), optim::NAdamOptions{}); },
  };
}

TEST(AdaptiveOptimizers, PerGroupLearningRates) {
  // Two copies of the same weights in two groups: the group with lr 0 stays; the group with the
  // same lr as a single-group run follows that run exactly.
  for (auto& make : all_optimizers()) {
    Tensor a = make_weights(), b = make_weights(), solo = make_weights();
    auto grouped = make({{{a}, 0.05f, 0.01f}, {{b}, 0.0f, 0.01f}});
    auto single = make({{{solo}, 0.05f, 0.01f}});
    for (int t = 0; t < 4; ++t) {
      grouped->zero_grad();
      (loss_of(a) + loss_of(b)).backward();
      grouped->step();
      step(*single, solo);
    }
    EXPECT_EQ(a.to_vector(), solo.to_vector()) << grouped->kind();
    EXPECT_EQ(b.to_vector(), std::vector<float>(kW0)) << grouped->kind();
    EXPECT_NE(a.to_vector(), std::vector<float>(kW0)) << grouped->kind();
  }
}

TEST(AdaptiveOptimizers, StateRoundTripContinuesBitForBit) {
  for (auto& make : all_optimizers()) {
    // Uninterrupted: 6 steps.
    Tensor w1 = make_weights(), v1 = Tensor::from_data({1.0f, -1.0f}, {2}, true);
    auto opt1 = make({{{w1}, 0.03f, 0.02f}, {{v1}, 0.01f, 0.0f}});
    auto run = [](optim::Optimizer& opt, const Tensor& w, const Tensor& v) {
      opt.zero_grad();
      (loss_of(w) + sum(v * v * v)).backward();
      opt.step();
    };
    for (int t = 0; t < 6; ++t) run(*opt1, w1, v1);

    // Interrupted after 3: the state and weights go to a fresh optimizer over copies.
    Tensor w2 = make_weights(), v2 = Tensor::from_data({1.0f, -1.0f}, {2}, true);
    auto opt2 = make({{{w2}, 0.03f, 0.02f}, {{v2}, 0.01f, 0.0f}});
    for (int t = 0; t < 3; ++t) run(*opt2, w2, v2);
    auto saved = opt2->state();
    ASSERT_FALSE(saved.empty());
    Tensor w3 = Tensor::from_data(w2.to_vector(), {3}, true);
    Tensor v3 = Tensor::from_data(v2.to_vector(), {2}, true);
    auto opt3 = make({{{w3}, 0.03f, 0.02f}, {{v3}, 0.01f, 0.0f}});
    opt3->load_state(saved);
    for (int t = 0; t < 3; ++t) run(*opt3, w3, v3);
    EXPECT_EQ(w3.to_vector(), w1.to_vector()) << opt1->kind();
    EXPECT_EQ(v3.to_vector(), v1.to_vector()) << opt1->kind();
    // The loaded state is a copy: stepping opt3 did not change `saved`.
    auto again = opt2->state();
    for (size_t i = 0; i < saved.size(); ++i)
      EXPECT_EQ(saved[i].second.to_vector(), again[i].second.to_vector());
  }
}

TEST(AdaptiveOptimizers, StepCountIsSaved) {
  Tensor w = make_weights();
  optim::Adam opt({w}, {});
  EXPECT_TRUE(opt.state().empty());
  for (int t = 0; t < 3; ++t) step(opt, w);
  bool found = false;
  for (auto& [name, t] : opt.state())
    if (name == "step.0") {
      found = true;
      EXPECT_EQ(t.shape(), Shape{1});
      EXPECT_EQ(t.item(), 3.0f);
    }
  EXPECT_TRUE(found);
}

TEST(AdaptiveOptimizers, SkipsParametersWithoutGradients) {
  for (auto& make : all_optimizers()) {
    Tensor used = make_weights(), unused = Tensor::from_data({7.0f}, {1}, true);
    auto opt = make({{{used, unused}, 0.1f, 0.1f}});
    step(*opt, used);
    EXPECT_EQ(unused.item(), 7.0f) << opt->kind();
    for (auto& [name, t] : opt->state()) EXPECT_EQ(name.back(), '0') << name;
  }
}

TEST(AdaptiveOptimizers, LoadStateRejectsBadEntries) {
  Tensor w = make_weights();
  optim::Adam adam({w}, {});
  step(adam, w);
  auto good = adam.state();

  optim::Adam fresh({make_weights()}, {});
  expect_error(
      [&] {
        fresh.load_state({{"velocity.0", Tensor::zeros({3})}});
      },
      "unexpected state entry 'velocity.0'");
  expect_error(
      [&] {
        fresh.load_state({{"exp_avg.5", Tensor::zeros({3})}});
      },
      "unexpected state entry 'exp_avg.5'");
  expect_error(
      [&] {
        fresh.load_state({{"exp_avg.x", Tensor::zeros({3})}});
      },
      "unexpected state entry");
  auto wrong_shape = good;
  for (auto& [name, t] : wrong_shape)
    if (name == "exp_avg.0") t = Tensor::zeros({4});
  expect_error([&] { fresh.load_state(wrong_shape); }, "'exp_avg.0' has shape [4], expected [3]");
  auto partial = good;
  partial.pop_back();
  expect_error([&] { fresh.load_state(partial); }, "only part of its state");
  auto bad_step = good;
  for (auto& [name, t] : bad_step)
    if (name == "step.0") t = Tensor::from_data({1.5f}, {1});
  expect_error([&] { fresh.load_state(bad_step); }, "whole number");
  // amsgrad state does not fit plain Adam, nor the other way round.
  optim::Adam ams({make_weights()}, {.amsgrad = true});
  expect_error([&] { ams.load_state(good); }, "only part of its state");
  Tensor w2 = make_weights();
  optim::Adam ams2({w2}, {.amsgrad = true});
  step(ams2, w2);
  expect_error([&] { fresh.load_state(ams2.state()); },
               "unexpected state entry 'max_exp_avg_sq.0'");
  // A failed load leaves the state as it was.
  optim::Adam kept({w}, {});
  kept.load_state(good);
  expect_error([&] { kept.load_state(partial); }, "only part");
  EXPECT_EQ(kept.state().size(), good.size());
}

// NAdam's mu_product is one value per parameter, starting at 1; the other buffers have the
// parameter's shape.
TEST(AdaptiveOptimizers, SingleValueBufferKeepsItsShape) {
  Tensor w = make_weights();
  optim::NAdam nadam({w}, {});
  step(nadam, w);
  auto good = nadam.state();
  std::vector<std::string> names;
  for (const auto& [name, t] : good) names.push_back(name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"step.0", "exp_avg.0", "exp_avg_sq.0", "mu_product.0"}));
  EXPECT_EQ(good[3].second.shape(), (Shape{1}));
  EXPECT_FLOAT_EQ(good[3].second.item(), 0.9f * (1.0f - 0.5f * std::pow(0.96f, 0.004f)));
  optim::NAdam fresh({make_weights()}, {});
  auto wrong = good;
  wrong[3].second = Tensor::ones({3});
  expect_error([&] { fresh.load_state(wrong); }, "'mu_product.0' has shape [3], expected [1]");
  wrong = good;
  wrong[1].second = Tensor::ones({1});
  expect_error([&] { fresh.load_state(wrong); }, "'exp_avg.0' has shape [1], expected [3]");
  fresh.load_state(good);
  EXPECT_EQ(fresh.state()[3].second.item(), good[3].second.item());
}

TEST(AdaptiveOptimizers, ValidatesOptions) {
  std::vector<Tensor> p{make_weights()};
  expect_error([&] { optim::Adam(p, {.lr = -1.0f}); }, "learning rate must be >= 0");
  expect_error([&] { optim::Adam(p, {.beta1 = 1.0f}); }, "Adam: beta1 must be in [0, 1)");
  expect_error([&] { optim::Adam(p, {.beta2 = -0.1f}); }, "Adam: beta2 must be in [0, 1)");
  expect_error([&] { optim::Adam(p, {.eps = -1e-8f}); }, "Adam: eps must be");
  // eps 0 would make 0/0 = NaN of every weight whose gradient is 0.
  expect_error([&] { optim::Adam(p, {.eps = 0.0f}); }, "Adam: eps must be a finite number > 0");
  expect_error([&] { optim::Adagrad(p, {.eps = 0.0f}); }, "Adagrad: eps must be");
  expect_error([&] { optim::RMSprop(p, {.eps = 0.0f}); }, "RMSprop: eps must be");
  expect_error([&] { optim::Adamax(p, {.eps = 0.0f}); }, "Adamax: eps must be");
  expect_error([&] { optim::NAdam(p, {.eps = 0.0f}); }, "NAdam: eps must be");
  expect_error([&] { optim::Adam(p, {.weight_decay = -1.0f}); }, "weight decay must be >= 0");
  expect_error([&] { optim::Adam(p, {.beta1 = std::nanf("")}); }, "beta1");
  optim::AdamWOptions w;
  w.beta2 = 1.5f;
  expect_error([&] { optim::AdamW(p, w); }, "AdamW: beta2");
  expect_error([&] { optim::Adagrad(p, {.lr_decay = -1.0f}); }, "Adagrad: lr_decay");
  expect_error([&] { optim::Adagrad(p, {.initial_accumulator_value = -1.0f}); },
               "Adagrad: initial_accumulator_value");
  expect_error([&] { optim::RMSprop(p, {.alpha = 1.5f}); }, "RMSprop: alpha must be in [0, 1]");
  expect_error([&] { optim::RMSprop(p, {.momentum = 1.0f}); }, "RMSprop: momentum");
  expect_error([&] { optim::Adamax(p, {.beta1 = 2.0f}); }, "Adamax: beta1");
  expect_error([&] { optim::NAdam(p, {.momentum_decay = -1.0f}); }, "NAdam: momentum_decay");
  expect_error([&] { optim::NAdam(p, {.eps = std::numeric_limits<float>::infinity()}); },
               "NAdam: eps");
}

TEST(Factory, BuildsEveryKind) {
  for (const std::string& kind : optim::optimizer_kinds()) {
    Tensor w = make_weights();
    auto opt = optim::make_optimizer(kind, {w}, {.lr = 0.01f});
    EXPECT_EQ(opt->kind(), kind);
    EXPECT_FLOAT_EQ(opt->lr(), 0.01f);
    step(*opt, w);
    EXPECT_NE(w.to_vector(), std::vector<float>(kW0)) << kind;
  }
  expect_error(
      [] { optim::make_optimizer("adadelta", {make_weights()}, {}); },
      "unknown kind 'adadelta' (known: sgd, adagrad, rmsprop, adam, adamw, adamax, nadam)");
  expect_error([] { optim::make_optimizer("adam", {make_weights()}, {.beta1 = 1.0f}); },
               "Adam: beta1");
  auto amsgrad =
      optim::make_optimizer("adamw", {make_weights()}, {.weight_decay = 0.1f, .amsgrad = true});
  auto& adamw = dynamic_cast<optim::AdamW&>(*amsgrad);
  EXPECT_TRUE(adamw.options().amsgrad);
  EXPECT_FLOAT_EQ(adamw.options().weight_decay, 0.1f);
}

// Empty settings give each kind the defaults of its own options struct, as its constructor does.
TEST(Factory, EmptySettingsTakeEachOptimizersOwnDefaults) {
  const std::vector<std::pair<std::string, float>> lrs{
      {"sgd", 0.01f},   {"adagrad", 0.01f}, {"rmsprop", 0.01f}, {"adam", 1e-3f},
      {"adamw", 1e-3f}, {"adamax", 2e-3f},  {"nadam", 2e-3f}};
  for (const auto& [kind, lr] : lrs) {
    EXPECT_FLOAT_EQ(optim::make_optimizer(kind, {make_weights()}, {})->lr(), lr) << kind;
    EXPECT_FLOAT_EQ(*optim::with_defaults(kind, {}).lr, lr) << kind;
  }
  auto adamw = optim::make_optimizer("adamw", {make_weights()}, {});
  EXPECT_FLOAT_EQ(dynamic_cast<optim::AdamW&>(*adamw).options().weight_decay, 0.01f);
  auto adagrad = optim::make_optimizer("adagrad", {make_weights()}, {});
  EXPECT_FLOAT_EQ(dynamic_cast<optim::Adagrad&>(*adagrad).options().eps, 1e-10f);
  EXPECT_FALSE(optim::with_defaults("sgd", {}).eps.has_value());
  // What is set is kept.
  const optim::OptimizerSettings s = optim::with_defaults("adam", {.lr = 0.5f, .eps = 1e-3f});
  EXPECT_EQ(*s.lr, 0.5f);
  EXPECT_EQ(*s.eps, 1e-3f);
  EXPECT_EQ(*s.weight_decay, 0.0f);
  expect_error([] { optim::with_defaults("adadelta", {}); }, "unknown kind 'adadelta'");
}

// ---- clipping and penalties ----

TEST(Clipping, GradNormScalesDownToMaxNorm) {
  Tensor a = Tensor::from_data({3.0f}, {1}, true), b = Tensor::from_data({1.0f, 1.0f}, {2}, true);
  (sum(a * 3.0f) + sum(b * 4.0f)).backward();  // grads: a 3, b (4, 4); norm √(9 + 32) = √41
  const double total = optim::clip_grad_norm({a, b}, 1.0);
  EXPECT_NEAR(total, std::sqrt(41.0), 1e-6);
  const double coef = 1.0 / (std::sqrt(41.0) + 1e-6);
  EXPECT_NEAR(a.grad().item(), 3 * coef, 1e-6);
  EXPECT_NEAR(b.grad().data()[1], 4 * coef, 1e-6);
  // Already within the limit: unchanged, and the norm is still reported.
  const double again = optim::clip_grad_norm({a, b}, 10.0);
  EXPECT_NEAR(again, 1.0, 1e-5);
  EXPECT_NEAR(a.grad().item(), 3 * coef, 1e-6);
}

TEST(Clipping, InfinityAndOneNorms) {
  Tensor a = Tensor::from_data({1.0f, -2.0f}, {2}, true);
  sum(a * Tensor::from_data({-6.0f, 2.0f}, {2})).backward();  // grad (−6, 2)
  EXPECT_NEAR(optim::clip_grad_norm({a}, 100.0, INFINITY), 6.0, 1e-9);
  EXPECT_NEAR(optim::clip_grad_norm({a}, 100.0, 1.0), 8.0, 1e-9);
  EXPECT_NEAR(optim::clip_grad_norm({a}, 3.0, INFINITY), 6.0, 1e-9);
  EXPECT_NEAR(a.grad().data()[0], -3.0, 1e-5);
  EXPECT_NEAR(a.grad().data()[1], 1.0, 1e-5);
}

TEST(Clipping, SkipsMissingGradientsAndValidates) {
  Tensor a = Tensor::from_data({1.0f}, {1}, true);
  EXPECT_EQ(optim::clip_grad_norm({a}, 1.0), 0.0);
  expect_error([&] { optim::clip_grad_norm({a}, -1.0); }, "max_norm must be >= 0");
  expect_error([&] { optim::clip_grad_norm({a}, 1.0, 0.0); }, "norm_type must be positive");
  expect_error([&] { optim::clip_grad_value({a}, -1.0); }, "clip_value must be >= 0");
}

TEST(Clipping, GradValueClamps) {
  Tensor a = Tensor::from_data({1.0f, 1.0f, 1.0f}, {3}, true);
  sum(a * Tensor::from_data({-5.0f, 0.25f, 3.0f}, {3})).backward();
  optim::clip_grad_value({a}, 0.5);
  EXPECT_EQ(a.grad().to_vector(), (std::vector<float>{-0.5f, 0.25f, 0.5f}));
}

TEST(Penalties, ValuesAndGradients) {
  Tensor a = Tensor::from_data({1.0f, -2.0f}, {2}, true), b = Tensor::from_data({0.5f}, {1}, true);
  Tensor l1 = optim::l1_penalty({a, b});
  EXPECT_FLOAT_EQ(l1.item(), 3.5f);
  l1.backward();
  EXPECT_EQ(a.grad().to_vector(), (std::vector<float>{1.0f, -1.0f}));
  EXPECT_EQ(b.grad().to_vector(), (std::vector<float>{1.0f}));
  a.zero_grad();
  b.zero_grad();
  Tensor l2 = optim::l2_penalty({a, b});
  EXPECT_FLOAT_EQ(l2.item(), 5.25f);
  (l2 * 0.5f).backward();  // ½·λ·Σw² with λ = 1: the gradient is w, as weight decay 1 adds
  EXPECT_EQ(a.grad().to_vector(), (std::vector<float>{1.0f, -2.0f}));
  EXPECT_EQ(b.grad().to_vector(), (std::vector<float>{0.5f}));
  EXPECT_EQ(optim::l1_penalty({}).item(), 0.0f);
  EXPECT_EQ(optim::l2_penalty({}).item(), 0.0f);
}

TEST(Penalties, L2PenaltyEqualsWeightDecayInSgd) {
  // SGD with weight_decay λ and SGD on L + (λ/2)·Σw² take the same steps.
  Tensor w1 = make_weights(), w2 = make_weights();
  optim::SGD decay({w1}, {.lr = 0.1f, .weight_decay = 0.2f});
  optim::SGD penalty({w2}, {.lr = 0.1f});
  for (int t = 0; t < 3; ++t) {
    step(decay, w1);
    penalty.zero_grad();
    (loss_of(w2) + optim::l2_penalty({w2}) * 0.1f).backward();
    penalty.step();
  }
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(w1.data()[i], w2.data()[i], 1e-6);
}

}  // namespace
}  // namespace bp
