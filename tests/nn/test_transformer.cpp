// Positional encodings and the pre-norm transformer block: values against their formulas,
// gradient checks, causality, spec layers and errors.
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backprop/spec.hpp"
#include "backprop/transformer.hpp"
#include "test_util.hpp"

namespace bp {
namespace {

using bp::testing::expect_error;

void expect_gradients(nn::Module& module, const Tensor& x, const std::string& label) {
  std::vector<Tensor> inputs{x};
  for (const Tensor& p : module.parameters()) inputs.push_back(p);
  GradcheckResult r =
      gradcheck([&module](const std::vector<Tensor>& in) { return module.forward(in[0]); }, inputs);
  EXPECT_TRUE(r.ok) << label << ": " << r.message;
}

// Moves every parameter away from its initial value (zero biases, unit norm weights), so that
// their gradients are checked at a general point.
void perturb(nn::Module& module, Generator& gen) {
  for (Tensor& p : module.parameters())
    for (float& v : p.values()) v += gen.uniform(-0.3f, 0.3f);
}

TEST(PositionalEncoding, SinusoidsFollowTheFormula) {
  const int64_t max_len = 7, dim = 6;
  nn::PositionalEncoding pe({.max_len = max_len, .dim = dim, .kind = nn::PositionKind::sinusoidal});
  EXPECT_TRUE(pe.parameters().empty());
  Tensor x = Tensor::zeros({2, 5, dim});
  Tensor y = pe(x);
  ASSERT_EQ(y.shape(), (Shape{2, 5, dim}));
  for (int t = 0; t < 5; ++t)
    for (int j = 0; j < static_cast<int>(dim); ++j) {
      const double omega = std::pow(10000.0, -(2.0 * (j / 2)) / static_cast<double>(dim));
      const double want = j % 2 == 0 ? std::sin(t * omega) : std::cos(t * omega);
      EXPECT_NEAR(y.at({1, t, j}), want, 1e-6) << "t=" << t << " j=" << j;
    }
  // The vectors are added to the input.
  Tensor ones = Tensor::ones({1, 3, dim});
  EXPECT_NEAR(pe(ones).at({0, 2, 1}), 1.0f + std::cos(2.0), 1e-6);
}

TEST(PositionalEncoding, LearnedTableIsAParameterWithGradients) {
  Generator gen(3);
  nn::PositionalEncoding pe({.max_len = 5, .dim = 4}, gen);
  auto named = pe.named_parameters();
  ASSERT_EQ(named.size(), 1u);
  EXPECT_EQ(named[0].first, "weight");
  EXPECT_EQ(named[0].second.shape(), (Shape{5, 4}));
  double sum_sq = 0;
  for (float v : named[0].second.to_vector()) sum_sq += double(v) * v;
  EXPECT_LT(std::sqrt(sum_sq / 20), 0.06);  // drawn from N(0, 0.02²)
  EXPECT_GT(std::sqrt(sum_sq / 20), 0.005);
  // A shorter sequence uses the first rows, and only they get gradients.
  expect_gradients(pe, Tensor::uniform({2, 3, 4}, -1.0f, 1.0f, gen, true), "learned positions");
  nn::PositionalEncoding fresh({.max_len = 5, .dim = 4}, gen);
  sum(fresh(Tensor::zeros({1, 3, 4}))).backward();
  const Tensor g = fresh.parameters()[0].grad();
  EXPECT_EQ(g.at({2, 3}), 1.0f);
  EXPECT_EQ(g.at({3, 0}), 0.0f);
  EXPECT_EQ(g.at({4, 3}), 0.0f);
}

TEST(PositionalEncoding, Errors) {
  expect_error([] { nn::PositionalEncoding(nn::PositionalOptions{.max_len = 0, .dim = 4}); },
               "sizes must be positive");
  nn::PositionalEncoding pe({.max_len = 4, .dim = 2, .kind = nn::PositionKind::sinusoidal});
  expect_error([&] { (void)pe(Tensor::zeros({1, 5, 2})); }, "5 steps, more than the 4 positions");
  expect_error([&] { (void)pe(Tensor::zeros({1, 3, 3})); }, "expects samples of shape (seq, 2)");
  expect_error([&] { (void)pe(Tensor::zeros({3, 2})); }, "expects (batch, seq, 2) inputs");
  EXPECT_EQ(pe.output_shape({4, 2}), (Shape{4, 2}));
}

TEST(TransformerBlock, GradientsOfInputAndEveryParameter) {
  Generator gen(11);
  for (bool causal : {true, false}) {
    nn::TransformerBlock block({.dim = 4, .heads = 2, .ff = 6, .dropout = 0.0f, .causal = causal},
                               gen);
    EXPECT_EQ(block.parameters().size(), 2u + 8u + 2u + 4u);
    perturb(block, gen);
    expect_gradients(block, Tensor::uniform({2, 3, 4}, -1.0f, 1.0f, gen, true),
                     causal ? "causal block" : "block");
  }
}

// The block's output from its children, composed by hand as the header's formula says.
TEST(TransformerBlock, ComputesThePreNormFormula) {
  Generator gen(12);
  nn::TransformerBlock block({.dim = 6, .heads = 3, .ff = 10, .dropout = 0.0f}, gen);
  perturb(block, gen);
  std::map<std::string, Tensor> p;
  for (auto& [name, t] : block.named_parameters()) p[name] = t;
  nn::LayerNorm ln1({.shape = {6}}), ln2({.shape = {6}});
  nn::MultiheadAttention attn({.dim = 6, .heads = 3, .causal = true}, gen);
  nn::Linear ff1(6, 10, gen), ff2(10, 6, gen);
  for (auto& [name, t] : ln1.named_parameters()) t.copy_(p.at("ln1." + name));
  for (auto& [name, t] : ln2.named_parameters()) t.copy_(p.at("ln2." + name));
  for (auto& [name, t] : attn.named_parameters()) t.copy_(p.at("attn." + name));
  for (auto& [name, t] : ff1.named_parameters()) t.copy_(p.at("ff1." + name));
  for (auto& [name, t] : ff2.named_parameters()) t.copy_(p.at("ff2." + name));
  Tensor x = Tensor::uniform({2, 4, 6}, -1.0f, 1.0f, gen);
  Tensor h = x + attn(ln1(x));
  Tensor want = h + ff2(gelu(ff1(ln2(h))));
  Tensor got = block(x);
  ASSERT_EQ(got.shape(), want.shape());
  for (size_t i = 0; i < want.to_vector().size(); ++i)
    EXPECT_NEAR(got.to_vector()[i], want.to_vector()[i], 1e-5f) << i;
}

TEST(TransformerBlock, CausalOutputsIgnoreLaterSteps) {
  Generator gen(13);
  nn::TransformerBlock block({.dim = 4, .heads = 2, .ff = 8, .dropout = 0.0f}, gen);
  Tensor x = Tensor::uniform({1, 5, 4}, -1.0f, 1.0f, gen);
  Tensor y = block(x);
  Tensor x2 = x.clone();
  for (int64_t e = 0; e < 4; ++e) x2.at({0, 4, e}) += 3.0f;
  Tensor y2 = block(x2);
  for (int64_t t = 0; t < 4; ++t)
    for (int64_t e = 0; e < 4; ++e) EXPECT_EQ(y.at({0, t, e}), y2.at({0, t, e}));
  EXPECT_NE(y.at({0, 4, 0}), y2.at({0, 4, 0}));
}

TEST(TransformerBlock, DropoutOnlyInTraining) {
  Generator gen(14);
  nn::TransformerBlock block({.dim = 4, .heads = 1, .ff = 8, .dropout = 0.5f}, gen);
  Tensor x = Tensor::uniform({3, 5, 4}, -1.0f, 1.0f, gen);
  Tensor train_out = block(x);
  block.eval();
  Tensor a = block(x), b = block(x);
  EXPECT_EQ(a.to_vector(), b.to_vector());
  EXPECT_NE(a.to_vector(), train_out.to_vector());
  expect_error(
      [&] { nn::TransformerBlock(nn::TransformerOptions{.dim = 4, .heads = 3, .ff = 8}, gen); },
      "not divisible");
  expect_error(
      [&] { nn::TransformerBlock(nn::TransformerOptions{.dim = 4, .heads = 2, .ff = 0}, gen); },
      "sizes must be positive");
  expect_error([&] { (void)block(Tensor::zeros({2, 3, 5})); }, "expects samples of shape (seq, 4)");
  EXPECT_EQ(block.name(), "TransformerBlock(4, heads=1, ff=8, dropout=0.5)");
}

TEST(TransformerSpec, ADecoderIsOneLineOfSpec) {
  Generator gen(15);
  auto net = nn::build_model(
      nn::parse_model_spec("reshape(28,28),dense(32),positional,transformer(4,64),"
                           "transformer(heads=4,ff=64,dropout=0,causal=false),flatten,dense(10)"),
      {1, 28, 28}, gen);
  EXPECT_EQ(net->output_shape({1, 28, 28}), (Shape{10}));
  const int64_t block = 4 * 32 + 4 * 32 * 33 + 64 * 33 + 32 * 65;
  EXPECT_EQ(net->parameter_count(), 28 * 32 + 32 + 28 * 32 + 2 * block + 28 * 32 * 10 + 10);
  EXPECT_EQ(net->forward(Tensor::zeros({2, 1, 28, 28})).shape(), (Shape{2, 10}));
  auto fixed = nn::build_model(nn::parse_model_spec("positional(sinusoidal)"), {5, 4}, gen);
  EXPECT_EQ(fixed->parameter_count(), 0);
}

TEST(TransformerSpec, Errors) {
  Generator gen(16);
  auto build = [&](const char* spec, Shape in) {
    (void)nn::build_model(nn::parse_model_spec(spec), in, gen);
  };
  expect_error([&] { build("transformer(3,8)", {5, 4}); }, "dim 4 is not divisible by heads=3");
  expect_error([&] { build("transformer(2,8,dropout=1)", {5, 4}); }, "'dropout' must be in [0, 1)");
  expect_error([&] { build("transformer(2)", {5, 4}); }, "missing argument 'ff'");
  expect_error([&] { build("positional", {784}); }, "expects samples of shape (seq, dim)");
  expect_error(
      [&] {
        build("positional(kind=rotary)", {5, 4});
      },
      "'kind' must be one of learned, sinusoidal");
}

}  // namespace
}  // namespace bp
