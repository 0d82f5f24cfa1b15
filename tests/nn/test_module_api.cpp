// What a user writing a model in C++ relies on: layers built from options structs (the same as the
// model spec builds), activation classes, named_modules, apply, clone and summary.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "backprop/backprop.hpp"
#include "test_util.hpp"

namespace bp {
namespace {

using bp::testing::expect_error;

// The same structure (names and types of modules) and the same parameter and buffer values.
void expect_same(const nn::Module& a, const nn::Module& b) {
  const auto ma = a.named_modules(), mb = b.named_modules();
  ASSERT_EQ(ma.size(), mb.size());
  for (size_t i = 0; i < ma.size(); ++i) {
    EXPECT_EQ(ma[i].first, mb[i].first);
    EXPECT_EQ(ma[i].second->name(), mb[i].second->name());
    const nn::Module &x = *ma[i].second, &y = *mb[i].second;
    EXPECT_EQ(typeid(x), typeid(y)) << ma[i].first;
  }
  auto tensors = [](const nn::Module& m) {
    auto all = m.named_parameters();
    for (auto& buffer : m.named_buffers()) all.push_back(buffer);
    return all;
  };
  const auto ta = tensors(a), tb = tensors(b);
  ASSERT_EQ(ta.size(), tb.size());
  for (size_t i = 0; i < ta.size(); ++i) {
    EXPECT_EQ(ta[i].first, tb[i].first);
    EXPECT_TRUE(allclose(ta[i].second, tb[i].second, 0.0f, 0.0f)) << ta[i].first;
  }
}

// The single layer the spec `text` builds for samples of `input`, from a generator seeded 7.
std::shared_ptr<nn::Module> from_spec(const std::string& text, const Shape& input) {
  Generator gen(7);
  auto model = nn::build_model(nn::parse_model_spec(text), input, gen);
  EXPECT_EQ(model->size(), 1u);
  return model->children().front().second;
}

TEST(ModuleOptions, DesignatedInitialisersBuildWhatTheSpecBuilds) {
  Generator gen(7);
  expect_same(*from_spec("dense(5, bias=false)", {3}),
              nn::Linear({.in = 3, .out = 5, .bias = false}, gen));
  gen.seed(7);
  expect_same(*from_spec("conv(8, 3, pad=1, stride=2)", {2, 9, 9}),
              nn::Conv2d({.in = 2, .out = 8, .kernel = 3, .stride = 2, .padding = 1}, gen));
  gen.seed(7);
  expect_same(
      *from_spec("conv_transpose(4, 3, stride=2, output_pad=1, groups=2)", {2, 5, 5}),
      nn::ConvTranspose2d(
          {.in = 2, .out = 4, .kernel = 3, .stride = 2, .output_padding = 1, .groups = 2}, gen));
  expect_same(*from_spec("maxpool(3, stride=2, pad=1)", {1, 8, 8}),
              nn::MaxPool2d({.kernel = 3, .stride = 2, .padding = 1}));
  expect_same(*from_spec("avgpool(2)", {1, 8, 8}), nn::AvgPool2d({.kernel = 2}));
  expect_same(*from_spec("batchnorm(momentum=0.2, eps=0.001)", {4, 3, 3}),
              nn::BatchNorm2d({.features = 4, .eps = 0.001f, .momentum = 0.2f}));
  expect_same(*from_spec("batchnorm", {4}), nn::BatchNorm1d({.features = 4}));
  expect_same(*from_spec("layernorm(eps=0.01)", {2, 3}),
              nn::LayerNorm({.shape = {2, 3}, .eps = 0.01f}));
  gen.seed(7);
  expect_same(*from_spec("rnn(6, layers=2, sequences=true, nonlinearity=relu)", {5, 3}),
              nn::RNN({.input = 3,
                       .hidden = 6,
                       .layers = 2,
                       .sequences = true,
                       .nonlinearity = nn::RNNNonlinearity::relu},
                      gen));
  gen.seed(7);
  expect_same(*from_spec("lstm(4)", {5, 3}), nn::LSTM({.input = 3, .hidden = 4}, gen));
  gen.seed(7);
  expect_same(*from_spec("gru(4, sequences=true)", {5, 3}),
              nn::GRU({.input = 3, .hidden = 4, .sequences = true}, gen));
  gen.seed(7);
  expect_same(*from_spec("attention(2, causal=true)", {5, 4}),
              nn::MultiheadAttention({.dim = 4, .heads = 2, .causal = true}, gen));
  gen.seed(7);
  expect_same(*from_spec("positional", {5, 4}),
              nn::PositionalEncoding({.max_len = 5, .dim = 4}, gen));
  gen.seed(7);
  expect_same(
      *from_spec("transformer(2, 8, dropout=0.2, causal=false)", {5, 4}),
      nn::TransformerBlock({.dim = 4, .heads = 2, .ff = 8, .dropout = 0.2f, .causal = false}, gen));
}

TEST(ModuleOptions, ErrorsNameTheField) {
  expect_error([] { nn::Linear({.in = 3}); }, "Linear: sizes must be positive (got in=3, out=0)");
  expect_error([] { nn::Conv2d({.in = 1, .out = 8}); }, "Conv2d: kernel must be positive (got 0)");
  expect_error([] { nn::Conv2d({.in = 1, .out = 8, .kernel = 3, .groups = 3}); },
               "Conv2d: groups=3 does not divide the 1 input channels");
  expect_error([] { nn::MaxPool2d({}); }, "MaxPool2d: kernel must be positive (got 0)");
  expect_error([] { nn::BatchNorm2d({}); }, "BatchNorm2d: features must be positive, got 0");
  expect_error([] { nn::BatchNorm1d({.features = 2, .momentum = 1.5f}); },
               "BatchNorm1d: momentum must be in [0, 1], got 1.5");
  expect_error([] { nn::LayerNorm({}); }, "LayerNorm: shape must not be empty");
  expect_error(
      [] { nn::LSTM({.input = 2, .hidden = 3, .nonlinearity = nn::RNNNonlinearity::relu}); },
      "LSTM: nonlinearity is RNN's only setting");
  expect_error([] { nn::MultiheadAttention({.dim = 6, .heads = 4}); },
               "MultiheadAttention: dim 6 is not divisible by heads 4");
  expect_error([] { nn::TransformerBlock({.dim = 4, .heads = 2, .ff = 8, .dropout = 1.0f}); },
               "TransformerBlock: dropout must be in [0, 1), got 1");
  expect_error([] { nn::PositionalEncoding({.dim = 4}); },
               "PositionalEncoding: sizes must be positive (got max_len=0, dim=4)");
}

TEST(ActivationClasses, OnePerListedActivationAndTheSpecBuildsThem) {
  const Tensor x = Tensor::from_data({-2.0f, -0.5f, 0.0f, 0.7f, 3.0f}, {1, 5});
  for (const ActivationInfo& info : activations()) {
    SCOPED_TRACE(std::string(info.name));
    auto layer = nn::make_activation(info.kind);
    EXPECT_EQ(layer->kind(), info.kind);
    EXPECT_EQ(layer->name().substr(0, info.module.size()), info.module);
    EXPECT_TRUE(allclose((*layer)(x), activate(x, info.kind, info.default_parameter), 0, 0));
    auto built = from_spec(std::string(info.name), {5});
    const nn::Module &from_text = *built, &from_kind = *layer;
    EXPECT_EQ(typeid(from_text), typeid(from_kind));
  }
  EXPECT_NE(dynamic_cast<nn::ReLU*>(from_spec("relu", {5}).get()), nullptr);
  EXPECT_FLOAT_EQ(nn::LeakyReLU(0.3f).parameter(), 0.3f);
  EXPECT_EQ(nn::make_activation(ActivationKind::elu, 0.5f)->name(), "ELU(0.5)");
  expect_error([] { nn::Softplus(0.0f); }, "softplus: beta must be finite and > 0 (got 0)");
}

TEST(Sequential, TakesModulesByValue) {
  Generator gen(3);
  nn::Sequential net;
  net.add(nn::Linear(4, 8, gen)).add(nn::ReLU()).add(nn::Linear({.in = 8, .out = 2}, gen));
  ASSERT_EQ(net.size(), 3u);
  EXPECT_EQ(net[1].name(), "ReLU");
  EXPECT_EQ(net.parameter_count(), 4 * 8 + 8 + 8 * 2 + 2);
  // The parameters moved in are the ones the network trains.
  auto& first = dynamic_cast<nn::Linear&>(net[0]);
  EXPECT_EQ(net.parameters()[0].impl(), first.weight().impl());
  EXPECT_EQ(net(Tensor::ones({3, 4})).shape(), (Shape{3, 2}));
}

// A module with children, a buffer and settings of its own, as a user writes one.
class TwoLayer : public nn::Module {
 public:
  TwoLayer(int64_t hidden, Generator& gen) : hidden_(hidden) {
    a_ = register_module("a", std::make_shared<nn::Linear>(3, hidden, gen));
    b_ = register_module("b", std::make_shared<nn::Sequential>());
    b_->add(nn::Tanh()).add(nn::Linear(hidden, 2, gen));
    scale_ = register_buffer("scale", Tensor::ones({1}));
  }
  Tensor forward(const Tensor& x) override { return b_->forward(a_->forward(x)) * scale_; }
  std::string name() const override { return "TwoLayer"; }

 protected:
  std::shared_ptr<nn::Module> replicate() const override {
    Generator any;
    return std::make_shared<TwoLayer>(hidden_, any);
  }

 private:
  int64_t hidden_;
  std::shared_ptr<nn::Linear> a_;
  std::shared_ptr<nn::Sequential> b_;
  Tensor scale_;
};

// The same, without replicate().
class NoReplicate : public nn::Module {
 public:
  Tensor forward(const Tensor& x) override { return x; }
  std::string name() const override { return "NoReplicate"; }
};

TEST(NamedModules, DepthFirstWithDottedNamesEachOnce) {
  Generator gen(1);
  auto shared = std::make_shared<nn::Linear>(2, 2, gen);
  nn::Sequential net;
  net.add(shared).add(std::make_shared<nn::Residual>(
      std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
          std::make_shared<nn::Tanh>(), std::make_shared<nn::Linear>(2, 2)})));
  net.add(shared);  // listed once, under its first name
  std::vector<std::string> names;
  for (const auto& [name, m] : net.named_modules()) names.push_back(name + ":" + m->name());
  EXPECT_EQ(names, (std::vector<std::string>{":Sequential", "0:Linear(2, 2)", "1:Residual",
                                             "1.body:Sequential", "1.body.0:Tanh",
                                             "1.body.1:Linear(2, 2)"}));
  EXPECT_EQ(net.named_modules()[0].second, &net);
}

TEST(Apply, VisitsEveryModuleOnce) {
  Generator gen(2);
  TwoLayer model(4, gen);
  std::vector<std::string> seen;
  model.apply([&](nn::Module& m) { seen.push_back(m.name()); });
  EXPECT_EQ(seen, (std::vector<std::string>{"TwoLayer", "Linear(3, 4)", "Sequential", "Tanh",
                                            "Linear(4, 2)"}));
  // Re-initialise every Linear's weight.
  model.apply([](nn::Module& m) {
    if (auto* linear = dynamic_cast<nn::Linear*>(&m)) init::constant(linear->weight(), 0.5f);
  });
  for (const auto& [name, p] : model.named_parameters())
    if (name.ends_with("weight")) {
      EXPECT_TRUE(allclose(p, Tensor::full(p.shape(), 0.5f), 0, 0)) << name;
    }
}

TEST(Clone, IsADeepCopyThatTrainsIndependently) {
  Generator gen(5);
  TwoLayer original(4, gen);
  Tensor scale = original.named_buffers()[0].second;
  init::constant(scale, 2.0f);
  original.eval();
  auto copy = nn::clone(original);
  expect_same(original, *copy);
  EXPECT_FALSE(copy->is_training());
  for (const auto& [name, p] : copy->named_parameters()) EXPECT_TRUE(p.requires_grad()) << name;

  // A step on the copy leaves the original as it was.
  const Tensor x = Tensor::uniform({6, 3}, -1.0f, 1.0f, gen);
  const Tensor before = original(x).detach();
  optim::SGD sgd(copy->parameters(), {.lr = 0.5f});
  sum((*copy)(x)).backward();
  sgd.step();
  EXPECT_TRUE(allclose(original(x), before, 0, 0));
  EXPECT_FALSE(allclose((*copy)(x), before, 1e-3f, 1e-3f));
  for (const Tensor& p : original.parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST(Clone, EveryLayerOfTheSpecGrammar) {
  Generator gen(9);
  const std::string spec =
      "reshape(2,4,4),conv(4,3,pad=1),batchnorm,relu,maxpool(2),conv_transpose(2,2,stride=2),"
      "avgpool(2),global_avgpool,dense(8),leaky_relu(0.2),dropout(0.3),reshape(2,4),"
      "positional(kind=sinusoidal),transformer(2,8),attention(2),layernorm,lstm(4,sequences=true),"
      "gru(4,sequences=true),rnn(3),residual(dense(3),tanh),flatten,softmax";
  auto net = nn::build_model(nn::parse_model_spec(spec), {32}, gen);
  auto copy = nn::clone(*net);
  expect_same(*net, *copy);
  net->eval();
  copy->eval();
  const Tensor x = Tensor::uniform({3, 32}, 0.0f, 1.0f, gen);
  EXPECT_TRUE(allclose((*net)(x), (*copy)(x), 0, 0));
  for (const auto& [name, p] : copy->named_parameters())
    for (const auto& [other, q] : net->named_parameters()) EXPECT_NE(p.impl(), q.impl());
}

TEST(Clone, Embedding) {
  Generator gen(8);
  nn::Embedding table(5, 3, gen);
  auto copy = nn::clone(table);
  expect_same(table, *copy);
  EXPECT_NE(copy->weight().impl(), table.weight().impl());
}

TEST(Clone, DropoutContinuesTheSameMasks) {
  nn::Dropout drop(0.5f, uint64_t{11});
  auto copy = nn::clone(drop);
  const Tensor x = Tensor::ones({4, 16});
  EXPECT_TRUE(allclose(drop(x), (*copy)(x), 0, 0));
}

TEST(Clone, NeedsReplicate) {
  NoReplicate m;
  expect_error([&] { (void)m.clone(); },
               "NoReplicate: clone() needs the module to override Module::replicate()");
  nn::Sequential net;
  net.add(std::make_shared<NoReplicate>());
  expect_error([&] { (void)net.clone(); }, "NoReplicate: clone()");
}

TEST(Summary, OneRowPerLayerAndTheTotal) {
  Generator gen(4);
  auto net =
      nn::build_model(nn::parse_model_spec("conv(4,3),relu,flatten,dense(10)"), {1, 5, 5}, gen);
  const std::string want =
      "Layer                        Output shape           Params\n"
      "Conv2d(1, 4, kernel=3)       [4, 3, 3]                  40\n"
      "ReLU                         [4, 3, 3]                   0\n"
      "Flatten                      [36]                        0\n"
      "Linear(36, 10)               [10]                      370\n"
      "Total parameters: 410 (input [1, 5, 5])\n";
  EXPECT_EQ(nn::summary(*net, {1, 5, 5}), want);
  // A module that is not a Sequential is one row.
  EXPECT_EQ(nn::summary(nn::Linear(3, 2), {3}).find("Linear(3, 2)                 [2]"),
            std::string("Layer                        Output shape           Params\n").size());
  expect_error(
      [&] {
        (void)nn::summary(*net, {2, 5, 5});
      },
      "input [0, 2, 5, 5] with groups=1 has 2");
}

}  // namespace
}  // namespace bp
