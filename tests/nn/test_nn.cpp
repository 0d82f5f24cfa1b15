// Modules (Linear, activations, Softmax, Flatten, Sequential) and the weight initialisers.
#include <cmath>
#include <functional>
#include <memory>
#include <string>

#include "test_util.hpp"

namespace bp {
namespace {

using bp::testing::expect_error;

double sample_std(const Tensor& t) {
  double m = 0;
  for (float v : t.values()) m += v;
  m /= static_cast<double>(t.numel());
  double s = 0;
  for (float v : t.values()) s += (v - m) * (v - m);
  return std::sqrt(s / static_cast<double>(t.numel() - 1));
}

double sample_mean(const Tensor& t) {
  double m = 0;
  for (float v : t.values()) m += v;
  return m / static_cast<double>(t.numel());
}

float max_abs(const Tensor& t) {
  float m = 0;
  for (float v : t.values()) m = std::max(m, std::fabs(v));
  return m;
}

void expect_same_values(const Tensor& a, const Tensor& b, float tol = 0.0f) {
  ASSERT_EQ(a.shape(), b.shape());
  for (int64_t i = 0; i < a.numel(); ++i)
    EXPECT_NEAR(a.data()[i], b.data()[i], tol) << "element " << i;
}

// ---- Linear ----

TEST(LinearModule, ShapesAndParameters) {
  Generator gen(1);
  nn::Linear layer(4, 3, gen);
  EXPECT_EQ(layer.in_features(), 4);
  EXPECT_EQ(layer.out_features(), 3);
  EXPECT_EQ(layer.weight().shape(), (Shape{3, 4}));
  EXPECT_EQ(layer.bias().shape(), (Shape{3}));
  EXPECT_TRUE(layer.weight().requires_grad());
  EXPECT_TRUE(layer.bias().requires_grad());
  EXPECT_TRUE(layer.weight().is_leaf());
  EXPECT_EQ(layer.name(), "Linear(4, 3)");
  EXPECT_EQ(layer.parameter_count(), 15);
  auto named = layer.named_parameters();
  ASSERT_EQ(named.size(), 2u);
  EXPECT_EQ(named[0].first, "weight");
  EXPECT_EQ(named[1].first, "bias");
  EXPECT_TRUE(named[0].second.is_same(layer.weight()));
  EXPECT_TRUE(named[1].second.is_same(layer.bias()));

  Tensor x = Tensor::uniform({5, 4}, -1, 1, gen);
  Tensor y = layer(x);
  EXPECT_EQ(y.shape(), (Shape{5, 3}));
  expect_same_values(y, linear(x, layer.weight(), layer.bias()));
  EXPECT_EQ(layer(Tensor::zeros({2, 7, 4})).shape(), (Shape{2, 7, 3}));
  EXPECT_EQ(layer.output_shape({4}), (Shape{3}));
  EXPECT_EQ(layer.output_shape({6, 4}), (Shape{6, 3}));
}

TEST(LinearModule, WithoutBias) {
  Generator gen(2);
  nn::Linear layer({.in = 3, .out = 2, .bias = false}, gen);
  EXPECT_FALSE(layer.bias().defined());
  EXPECT_EQ(layer.parameters().size(), 1u);
  EXPECT_EQ(layer.parameter_count(), 6);
  EXPECT_EQ(layer.name(), "Linear(3, 2, bias=false)");
  Tensor x = Tensor::from_data({1, 0, 0, 0, 1, 0}, {2, 3});
  // Rows of the identity pick out columns of W: y[r, o] = W[o, r].
  Tensor y = layer(x);
  EXPECT_EQ(y.at({0, 0}), layer.weight().at({0, 0}));
  EXPECT_EQ(y.at({0, 1}), layer.weight().at({1, 0}));
  EXPECT_EQ(y.at({1, 1}), layer.weight().at({1, 1}));
}

TEST(LinearModule, InitialisationBoundAndSeed) {
  Generator g1(3), g2(3), g3(4);
  nn::Linear a(100, 50, g1), b(100, 50, g2), c(100, 50, g3);
  const float bound = 1.0f / std::sqrt(100.0f);
  EXPECT_LE(max_abs(a.weight()), bound);
  EXPECT_LE(max_abs(a.bias()), bound);
  EXPECT_GT(max_abs(a.weight()), 0.9f * bound);
  // U(-b, b) has std b/√3.
  EXPECT_NEAR(sample_std(a.weight()), bound / std::sqrt(3.0), 0.1 * bound / std::sqrt(3.0));
  EXPECT_EQ(a.weight().to_vector(), b.weight().to_vector());
  EXPECT_EQ(a.bias().to_vector(), b.bias().to_vector());
  EXPECT_NE(a.weight().to_vector(), c.weight().to_vector());
}

TEST(LinearModule, Errors) {
  expect_error([] { (void)nn::Linear(0, 3); }, "Linear: sizes must be positive (got in=0, out=3)");
  expect_error([] { (void)nn::Linear(3, -1); }, "out=-1");
  Generator gen(1);
  nn::Linear layer(4, 3, gen);
  expect_error([&] { (void)layer(Tensor::zeros({2, 5})); }, "linear: input of shape [2, 5]");
  expect_error([&] { (void)layer(Tensor::zeros({2, 5})); }, "expected last dimension 4");
  expect_error([&] { (void)layer.output_shape({5}); }, "Linear(4, 3)");
  expect_error([&] { (void)layer.output_shape({}); }, "last dimension is 4");
}

// ---- Sequential ----

std::shared_ptr<nn::Sequential> mlp(Generator& gen) {
  return std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(4, 8, gen), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(8, 3, gen), std::make_shared<nn::Tanh>(),
      std::make_shared<nn::Linear>(nn::LinearOptions{.in = 3, .out = 2, .bias = false}, gen)});
}

TEST(SequentialModule, ParameterNamesOrderAndCount) {
  Generator gen(7);
  auto net = mlp(gen);
  EXPECT_EQ(net->size(), 5u);
  auto named = net->named_parameters();
  std::vector<std::string> names;
  for (auto& [n, p] : named) names.push_back(n);
  EXPECT_EQ(names,
            (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias", "4.weight"}));
  EXPECT_EQ(net->parameter_count(), 4 * 8 + 8 + 8 * 3 + 3 + 3 * 2);
  auto params = net->parameters();
  ASSERT_EQ(params.size(), 5u);
  auto& l0 = dynamic_cast<nn::Linear&>((*net)[0]);
  auto& l2 = dynamic_cast<nn::Linear&>((*net)[2]);
  auto& l4 = dynamic_cast<nn::Linear&>((*net)[4]);
  EXPECT_TRUE(params[0].is_same(l0.weight()));
  EXPECT_TRUE(params[1].is_same(l0.bias()));
  EXPECT_TRUE(params[2].is_same(l2.weight()));
  EXPECT_TRUE(params[3].is_same(l2.bias()));
  EXPECT_TRUE(params[4].is_same(l4.weight()));
  for (size_t i = 0; i < params.size(); ++i) EXPECT_TRUE(params[i].is_same(named[i].second));
  EXPECT_EQ(net->children()[1].first, "1");
  EXPECT_EQ(net->children()[1].second->name(), "ReLU");
  EXPECT_EQ(net->name(), "Sequential");
}

TEST(SequentialModule, NestedNames) {
  Generator gen(8);
  nn::Sequential outer;
  outer.add(std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Sigmoid>(), std::make_shared<nn::Linear>(2, 2, gen)}));
  outer.add(std::make_shared<nn::Linear>(2, 1, gen));
  std::vector<std::string> names;
  for (auto& [n, p] : outer.named_parameters()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"0.1.weight", "0.1.bias", "1.weight", "1.bias"}));
  EXPECT_EQ(outer.parameter_count(), 6 + 3);
}

TEST(SequentialModule, ForwardEqualsComposedOps) {
  Generator gen(9);
  auto net = mlp(gen);
  Tensor x = Tensor::uniform({6, 4}, -2, 2, gen);
  auto& l0 = dynamic_cast<nn::Linear&>((*net)[0]);
  auto& l2 = dynamic_cast<nn::Linear&>((*net)[2]);
  auto& l4 = dynamic_cast<nn::Linear&>((*net)[4]);
  Tensor by_hand = linear(
      tanh(linear(relu(linear(x, l0.weight(), l0.bias())), l2.weight(), l2.bias())), l4.weight());
  Tensor y = (*net)(x);
  EXPECT_EQ(y.shape(), (Shape{6, 2}));
  expect_same_values(y, by_hand);
  // And with matmul instead of linear: x·Wᵀ + b.
  Tensor h = relu(matmul(x, transpose(l0.weight())) + l0.bias());
  h = tanh(matmul(h, transpose(l2.weight())) + l2.bias());
  expect_same_values(y, matmul(h, transpose(l4.weight())), 1e-5f);
  EXPECT_EQ(net->output_shape({4}), (Shape{2}));
  expect_error([&] { (void)net->output_shape({5}); }, "Linear(4, 8)");
}

TEST(SequentialModule, EmptySequentialIsIdentity) {
  nn::Sequential empty;
  Tensor x = Tensor::from_data({1, 2}, {1, 2});
  EXPECT_TRUE(empty(x).is_same(x));
  EXPECT_EQ(empty.parameter_count(), 0);
  EXPECT_EQ(empty.output_shape({3, 4}), (Shape{3, 4}));
  expect_error([&] { (void)empty[0]; }, "Sequential: index 0 out of range");
}

TEST(SequentialModule, TrainEvalPropagates) {
  Generator gen(10);
  nn::Sequential outer;
  auto inner = mlp(gen);
  outer.add(inner);
  outer.add(std::make_shared<nn::ReLU>());
  EXPECT_TRUE(outer.is_training());
  EXPECT_TRUE((*inner)[0].is_training());
  outer.eval();
  EXPECT_FALSE(outer.is_training());
  EXPECT_FALSE(inner->is_training());
  for (size_t i = 0; i < inner->size(); ++i) EXPECT_FALSE((*inner)[i].is_training());
  EXPECT_FALSE(outer[1].is_training());
  outer.train();
  EXPECT_TRUE((*inner)[4].is_training());
  inner->train(false);  // only the subtree
  EXPECT_TRUE(outer.is_training());
  EXPECT_FALSE((*inner)[2].is_training());
}

TEST(SequentialModule, ZeroGradAndBackward) {
  Generator gen(11);
  auto net = mlp(gen);
  Tensor x = Tensor::uniform({3, 4}, -1, 1, gen);
  sum((*net)(x)).backward();
  bool any_nonzero = false;
  for (const Tensor& p : net->parameters()) {
    ASSERT_TRUE(p.grad().defined());
    EXPECT_EQ(p.grad().shape(), p.shape());
    for (float g : p.grad().values()) any_nonzero = any_nonzero || g != 0.0f;
  }
  EXPECT_TRUE(any_nonzero);
  // The last layer has no bias and gets upstream 1 for both outputs, so dL/dW[o, i] = Σ_rows h[r,
  // i] is the same for both rows o.
  Tensor g4 = dynamic_cast<nn::Linear&>((*net)[4]).weight().grad();
  for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(g4.at({0, i}), g4.at({1, i}));
  net->zero_grad();
  for (const Tensor& p : net->parameters())
    for (float g : p.grad().values()) EXPECT_EQ(g, 0.0f);
}

// ---- Flatten, activations, Softmax ----

TEST(FlattenModule, ForwardAndShape) {
  nn::Flatten f;
  Tensor x = Tensor::arange(0, 24).reshape({2, 3, 4});
  Tensor y = f(x);
  EXPECT_EQ(y.shape(), (Shape{2, 12}));
  EXPECT_EQ(y.to_vector(), x.to_vector());
  EXPECT_EQ(f(Tensor::zeros({5})).shape(), (Shape{5, 1}));
  EXPECT_EQ(f(Tensor::zeros({5, 2})).shape(), (Shape{5, 2}));
  EXPECT_EQ(f.output_shape({3, 4}), (Shape{12}));
  EXPECT_EQ(f.name(), "Flatten");
  expect_error([&] { (void)f(Tensor::scalar(1)); }, "Flatten");
  expect_error([&] { (void)f(Tensor()); }, "Flatten");

  Generator gen(12);
  nn::Sequential net(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(12, 5, gen)});
  EXPECT_EQ(net.output_shape({3, 4}), (Shape{5}));
  EXPECT_EQ(net(x).shape(), (Shape{2, 5}));
}

TEST(ReshapeModule, ReshapesEachSampleAndInfersOneExtent) {
  nn::Reshape r({4, -1});
  Tensor x = Tensor::arange(0, 24).reshape({2, 12});
  Tensor y = r(x);
  EXPECT_EQ(y.shape(), (Shape{2, 4, 3}));
  EXPECT_EQ(y.to_vector(), x.to_vector());
  EXPECT_EQ(r.output_shape({3, 4}), (Shape{4, 3}));
  EXPECT_EQ(r.output_shape({1, 2, 6}), (Shape{4, 3}));
  EXPECT_EQ(r.name(), "Reshape(4, -1)");
  expect_error([&] { (void)r.output_shape({10}); }, "cannot reshape samples of shape [10]");
  expect_error([&] { (void)r(Tensor::zeros({2, 10})); }, "cannot reshape");
  expect_error([] { nn::Reshape({-1, -1}); }, "at most one extent may be -1");
  expect_error([] { nn::Reshape({3, 0}); }, "positive or -1");
  expect_error([] { nn::Reshape({}); }, "at least one extent");
}

TEST(PermuteModule, ReordersEachSampleAndItsGradient) {
  nn::Permute p({1, 0});
  Tensor x = Tensor::arange(0, 12).reshape({2, 3, 2});
  Tensor y = p(x);
  ASSERT_EQ(y.shape(), (Shape{2, 2, 3}));
  // y[n, i, j] = x[n, j, i]: the batch axis stays first.
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 3; ++j)
        EXPECT_EQ(y.to_vector()[static_cast<size_t>(n * 6 + i * 3 + j)],
                  x.to_vector()[static_cast<size_t>(n * 6 + j * 2 + i)]);
  EXPECT_EQ(p.output_shape({5, 7}), (Shape{7, 5}));
  EXPECT_EQ(p.name(), "Permute(1, 0)");
  expect_error([&] { (void)p.output_shape({5}); }, "expects samples with 2 axes");
  expect_error([] { nn::Permute({0, 0}); }, "each axis 0..1 once");
  expect_error([] { nn::Permute({0, 2}); }, "each axis 0..1 once");
  expect_error([] { nn::Permute({}); }, "at least one axis");

  Generator gen(5);
  nn::Permute q({2, 0, 1});
  Tensor z = Tensor::uniform({2, 3, 4, 2}, -1.0f, 1.0f, gen, true);
  GradcheckResult r = gradcheck(
      [&q](const std::vector<Tensor>& in) {
        return q.forward(in[0]) * permute(in[0], {0, 3, 1, 2});
      },
      {z});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(ActivationModules, MatchFunctions) {
  Generator gen(13);
  Tensor x = Tensor::uniform({4, 5}, -3, 3, gen);
  struct Case {
    std::shared_ptr<nn::Activation> module;
    std::function<Tensor(const Tensor&)> fn;
    std::string name;
  };
  std::vector<Case> cases = {
      {std::make_shared<nn::Sigmoid>(), [](const Tensor& t) { return sigmoid(t); }, "Sigmoid"},
      {std::make_shared<nn::Tanh>(), [](const Tensor& t) { return tanh(t); }, "Tanh"},
      {std::make_shared<nn::ReLU>(), [](const Tensor& t) { return relu(t); }, "ReLU"},
      {std::make_shared<nn::LeakyReLU>(), [](const Tensor& t) { return leaky_relu(t, 0.01f); },
       "LeakyReLU(0.01)"},
      {std::make_shared<nn::LeakyReLU>(0.2f), [](const Tensor& t) { return leaky_relu(t, 0.2f); },
       "LeakyReLU(0.2)"},
      {std::make_shared<nn::ELU>(), [](const Tensor& t) { return elu(t, 1.0f); }, "ELU(1)"},
      {std::make_shared<nn::ELU>(0.5f), [](const Tensor& t) { return elu(t, 0.5f); }, "ELU(0.5)"},
      {std::make_shared<nn::SELU>(), [](const Tensor& t) { return selu(t); }, "SELU"},
      {std::make_shared<nn::GELU>(), [](const Tensor& t) { return gelu(t); }, "GELU"},
      {std::make_shared<nn::Softplus>(), [](const Tensor& t) { return softplus(t, 1.0f); },
       "Softplus(1)"},
      {std::make_shared<nn::Softplus>(3.0f), [](const Tensor& t) { return softplus(t, 3.0f); },
       "Softplus(3)"},
      {std::make_shared<nn::SiLU>(), [](const Tensor& t) { return silu(t); }, "SiLU"},
  };
  for (auto& c : cases) {
    SCOPED_TRACE(c.name);
    expect_same_values((*c.module)(x), c.fn(x));
    EXPECT_EQ(c.module->name(), c.name);
    EXPECT_EQ(c.module->parameter_count(), 0);
    EXPECT_EQ(c.module->output_shape({4, 5}), (Shape{4, 5}));
  }
  EXPECT_EQ(std::make_shared<nn::LeakyReLU>(0.3f)->kind(), nn::ActivationKind::leaky_relu);
  EXPECT_FLOAT_EQ(std::make_shared<nn::LeakyReLU>(0.3f)->parameter(), 0.3f);
  // The two activations differ where x < 0, so the comparison above is not vacuous.
  EXPECT_FALSE(allclose(leaky_relu(x, 0.2f), relu(x)));
}

TEST(ActivationModules, ZeroParameterSelectsTheDefault) {
  // The header: "0 selects the default" for the leaky_relu slope, elu alpha and softplus beta.
  Tensor x = Tensor::from_data({-2, -0.5f, 0.5f, 2}, {4});
  expect_same_values(nn::Activation(nn::ActivationKind::leaky_relu)(x), leaky_relu(x));
  expect_same_values(nn::Activation(nn::ActivationKind::elu)(x), elu(x));
  expect_same_values(nn::Activation(nn::ActivationKind::softplus)(x), softplus(x));
}

TEST(ActivationModules, Errors) {
  expect_error([] { (void)std::make_shared<nn::Softplus>(-1.0f); },
               "softplus: beta must be finite and > 0 (got -1)");
  expect_error([] { (void)std::make_shared<nn::LeakyReLU>(NAN); },
               "leaky_relu: slope must be finite");
  expect_error([] { (void)std::make_shared<nn::ELU>(INFINITY); },
               "elu: alpha must be finite and >= 0");
  expect_error([] { (void)std::make_shared<nn::ELU>(-0.5f); },
               "elu: alpha must be finite and >= 0");
}

// Every row of the activation list is an op, a module and a spec layer that agree.
TEST(ActivationModules, EveryListedActivationIsAnOpAModuleAndASpecLayer) {
  Generator gen(15);
  Tensor x = Tensor::uniform({3, 4}, -3, 3, gen);
  ASSERT_GE(activations().size(), 9u);
  for (const ActivationInfo& info : activations()) {
    SCOPED_TRACE(std::string(info.name));
    EXPECT_EQ(&activation_info(info.kind), &info);
    nn::Activation module(info.kind);
    EXPECT_FLOAT_EQ(module.parameter(), info.default_parameter);
    EXPECT_EQ(module.name(), info.parameter.empty()
                                 ? std::string(info.module)
                                 : fmt::format("{}({:g})", info.module, info.default_parameter));
    Tensor y = module(x);
    expect_same_values(y, activate(x, info.kind));
    auto net = nn::build_model(nn::parse_model_spec(std::string(info.name)), {4}, gen);
    auto& layer = dynamic_cast<nn::Activation&>((*net)[0]);
    EXPECT_EQ(layer.kind(), info.kind);
    expect_same_values(layer(x), y);
    // Not the identity: each activation changes some value of x.
    EXPECT_FALSE(allclose(y, x)) << info.name;
  }
}

TEST(SoftmaxModule, MatchesFunctions) {
  Generator gen(14);
  Tensor x = Tensor::uniform({3, 6}, -4, 4, gen);
  nn::Softmax sm;
  nn::Softmax lsm(true);
  expect_same_values(sm(x), softmax(x, -1));
  expect_same_values(lsm(x), log_softmax(x, -1));
  EXPECT_EQ(sm.name(), "Softmax");
  EXPECT_EQ(lsm.name(), "LogSoftmax");
  for (int64_t i = 0; i < 3; ++i) {
    double row = 0;
    for (int64_t j = 0; j < 6; ++j) row += sm(x).at({i, j});
    EXPECT_NEAR(row, 1.0, 1e-6);
  }
}

// ---- initialisers ----

TEST(Init, Fans) {
  init::Fans f2 = init::fans(Tensor::zeros({20, 30}));
  EXPECT_EQ(f2.fan_in, 30);
  EXPECT_EQ(f2.fan_out, 20);
  // (out, in, kh, kw): receptive field 5·5.
  init::Fans f4 = init::fans(Tensor::zeros({8, 3, 5, 5}));
  EXPECT_EQ(f4.fan_in, 3 * 25);
  EXPECT_EQ(f4.fan_out, 8 * 25);
  init::Fans f3 = init::fans(Tensor::zeros({4, 6, 7}));
  EXPECT_EQ(f3.fan_in, 42);
  EXPECT_EQ(f3.fan_out, 28);
  // An empty dimension gives a zero fan, not a division by zero.
  init::Fans f0 = init::fans(Tensor::zeros({0, 3, 5, 5}));
  EXPECT_EQ(f0.fan_in, 75);
  EXPECT_EQ(f0.fan_out, 0);
  init::Fans f00 = init::fans(Tensor::zeros({4, 0}));
  EXPECT_EQ(f00.fan_in, 0);
  EXPECT_EQ(f00.fan_out, 4);
}

TEST(Init, ZerosAndConstant) {
  Tensor t = Tensor::ones({3, 3});
  init::zeros(t);
  for (float v : t.values()) EXPECT_EQ(v, 0.0f);
  init::constant(t, 0.75f);
  for (float v : t.values()) EXPECT_EQ(v, 0.75f);
}

TEST(Init, UniformAndNormal) {
  Generator gen(15);
  Tensor t = Tensor::zeros({200, 300});
  init::uniform(t, -0.5f, 1.5f, gen);
  for (float v : t.values()) {
    ASSERT_GE(v, -0.5f);
    ASSERT_LT(v, 1.5f);
  }
  EXPECT_NEAR(sample_mean(t), 0.5, 0.01);
  EXPECT_NEAR(sample_std(t), 2.0 / std::sqrt(12.0), 0.1 * 2.0 / std::sqrt(12.0));
  init::normal(t, 3.0f, 0.25f, gen);
  EXPECT_NEAR(sample_mean(t), 3.0, 0.01);
  EXPECT_NEAR(sample_std(t), 0.25, 0.025);
}

struct InitCase {
  std::string name;
  std::function<void(Tensor&, Generator&)> fill;
  bool uniform;
  // The documented bound (uniform) or standard deviation (normal) for the fans.
  std::function<double(double fan_in, double fan_out)> scale;
};

std::vector<InitCase> init_cases() {
  return {
      {"xavier_uniform", [](Tensor& t, Generator& g) { init::xavier_uniform(t, g); }, true,
       [](double fi, double fo) { return std::sqrt(6.0 / (fi + fo)); }},
      {"xavier_uniform gain 2", [](Tensor& t, Generator& g) { init::xavier_uniform(t, g, 2.0f); },
       true, [](double fi, double fo) { return 2.0 * std::sqrt(6.0 / (fi + fo)); }},
      {"xavier_normal", [](Tensor& t, Generator& g) { init::xavier_normal(t, g); }, false,
       [](double fi, double fo) { return std::sqrt(2.0 / (fi + fo)); }},
      {"xavier_normal gain 3", [](Tensor& t, Generator& g) { init::xavier_normal(t, g, 3.0f); },
       false, [](double fi, double fo) { return 3.0 * std::sqrt(2.0 / (fi + fo)); }},
      {"kaiming_uniform", [](Tensor& t, Generator& g) { init::kaiming_uniform(t, g); }, true,
       [](double fi, double) { return std::sqrt(6.0 / fi); }},
      {"kaiming_normal", [](Tensor& t, Generator& g) { init::kaiming_normal(t, g); }, false,
       [](double fi, double) { return std::sqrt(2.0 / fi); }},
      {"lecun_normal", [](Tensor& t, Generator& g) { init::lecun_normal(t, g); }, false,
       [](double fi, double) { return std::sqrt(1.0 / fi); }},
      {"lecun_uniform", [](Tensor& t, Generator& g) { init::lecun_uniform(t, g); }, true,
       [](double fi, double) { return std::sqrt(3.0 / fi); }},
  };
}

TEST(Init, DocumentedBoundsAndStandardDeviations) {
  // A 2-D weight and a 4-D one with a different fan_in/fan_out ratio.
  const std::vector<std::pair<Shape, std::pair<double, double>>> shapes = {
      {{200, 300}, {300, 200}}, {{64, 16, 3, 3}, {16 * 9, 64 * 9}}};
  for (const InitCase& c : init_cases()) {
    for (const auto& [shape, fan] : shapes) {
      SCOPED_TRACE(c.name + " " + to_string(shape));
      Generator gen(16);
      Tensor w = Tensor::zeros(shape);
      c.fill(w, gen);
      const double s = c.scale(fan.first, fan.second);
      EXPECT_NEAR(sample_mean(w), 0.0, 0.05 * s);
      if (c.uniform) {
        EXPECT_LE(max_abs(w), s);
        EXPECT_GT(max_abs(w), 0.95 * s);  // the whole range is used
        EXPECT_NEAR(sample_std(w), s / std::sqrt(3.0), 0.1 * s / std::sqrt(3.0));
      } else {
        EXPECT_NEAR(sample_std(w), s, 0.1 * s);
        EXPECT_GT(max_abs(w), 3.0 * s);  // a normal sample of this size has tails
      }
    }
  }
}

TEST(Init, SameSeedSameWeights) {
  for (const InitCase& c : init_cases()) {
    SCOPED_TRACE(c.name);
    Generator g1(99), g2(99), g3(100);
    Tensor a = Tensor::zeros({10, 20}), b = Tensor::zeros({10, 20}), d = Tensor::zeros({10, 20});
    c.fill(a, g1);
    c.fill(b, g2);
    c.fill(d, g3);
    EXPECT_EQ(a.to_vector(), b.to_vector());
    EXPECT_NE(a.to_vector(), d.to_vector());
  }
}

TEST(Init, Errors) {
  Generator gen(17);
  Tensor v = Tensor::zeros({5});
  expect_error([&] { (void)init::fans(v); }, "at least 2 dimensions");
  for (const InitCase& c : init_cases()) {
    SCOPED_TRACE(c.name);
    expect_error([&] { c.fill(v, gen); }, "at least 2 dimensions, got [5]");
    Tensor u;
    expect_error([&] { c.fill(u, gen); }, "undefined");
  }
  Tensor w = Tensor::zeros({2, 2});
  expect_error([&] { init::uniform(w, 1.0f, 1.0f, gen); }, "init::uniform");
  expect_error([&] { init::uniform(w, 2.0f, 1.0f, gen); }, "low < high");
  expect_error([&] { init::normal(w, 0.0f, -1.0f, gen); }, "init::normal");
  Tensor u;
  expect_error([&] { init::zeros(u); }, "undefined");
  expect_error([&] { init::constant(u, 1.0f); }, "undefined");
}

}  // namespace
}  // namespace bp
