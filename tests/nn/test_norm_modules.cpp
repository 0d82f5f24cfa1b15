// BatchNorm1d/2d, LayerNorm, Dropout and Embedding layers: running statistics, train/eval modes,
// buffers in model files, and the spec layers that build them.
#include <bit>
#include <cmath>
#include <filesystem>

#include <unistd.h>

#include "test_util.hpp"

namespace bp {
namespace {

using bp::testing::expect_error;

TEST(NormModulesTest, BatchNormRunningStatsAfterTwoStepsMatchHandComputation) {
  nn::BatchNorm1d bn({.features = 2});
  EXPECT_EQ(bn.name(), "BatchNorm1d(2)");
  EXPECT_EQ(bn.parameter_count(), 4);
  auto buffers = bn.named_buffers();
  ASSERT_EQ(buffers.size(), 2u);
  EXPECT_EQ(buffers[0].first, "running_mean");
  EXPECT_EQ(buffers[1].first, "running_var");
  EXPECT_FALSE(buffers[0].second.requires_grad());

  Tensor a = Tensor::from_data({1, 2, 3, 6}, {2, 2});        // means 2, 4; unbiased vars 2, 8
  Tensor b = Tensor::from_data({0, 0, 4, 1, 8, 2}, {3, 2});  // means 4, 1; unbiased vars 16, 1
  bn(a);
  bn(b);
  const double m = 0.1;
  double mean0 = 0, mean1 = 0, var0 = 1, var1 = 1;
  mean0 = (1 - m) * mean0 + m * 2;
  mean1 = (1 - m) * mean1 + m * 4;
  var0 = (1 - m) * var0 + m * 2;
  var1 = (1 - m) * var1 + m * 8;
  mean0 = (1 - m) * mean0 + m * 4;
  mean1 = (1 - m) * mean1 + m * 1;
  var0 = (1 - m) * var0 + m * 16;
  var1 = (1 - m) * var1 + m * 1;
  EXPECT_NEAR(bn.running_mean().data()[0], mean0, 1e-6);
  EXPECT_NEAR(bn.running_mean().data()[1], mean1, 1e-6);
  EXPECT_NEAR(bn.running_var().data()[0], var0, 1e-5);
  EXPECT_NEAR(bn.running_var().data()[1], var1, 1e-5);

  // Eval: normalises with the running statistics and no longer updates them.
  bn.eval();
  bn.weight().fill_(2.0f);
  bn.bias().fill_(0.5f);
  Tensor y = bn(Tensor::from_data({1, 1}, {1, 2}));
  EXPECT_NEAR(y.data()[0], (1 - mean0) / std::sqrt(var0 + 1e-5) * 2 + 0.5, 1e-5);
  EXPECT_NEAR(y.data()[1], (1 - mean1) / std::sqrt(var1 + 1e-5) * 2 + 0.5, 1e-5);
  EXPECT_NEAR(bn.running_mean().data()[0], mean0, 1e-6);
}

TEST(NormModulesTest, BatchNorm2dNormalisesEachChannelOverBatchAndSpace) {
  Generator gen(3);
  nn::BatchNorm2d bn({.features = 3});
  Tensor x = Tensor::uniform({4, 3, 5, 5}, -1.0f, 7.0f, gen);
  Tensor y = bn(x);
  for (int64_t c = 0; c < 3; ++c) {
    double s = 0, sq = 0;
    for (int64_t n = 0; n < 4; ++n)
      for (int64_t i = 0; i < 25; ++i) s += y.data()[(n * 3 + c) * 25 + i];
    for (int64_t n = 0; n < 4; ++n)
      for (int64_t i = 0; i < 25; ++i) sq += std::pow(y.data()[(n * 3 + c) * 25 + i] - s / 100, 2);
    EXPECT_NEAR(s / 100, 0.0, 1e-5);
    EXPECT_NEAR(sq / 100, 1.0, 1e-3);
  }
  // Gradients reach weight and bias.
  sum(mul(y, y)).backward();
  EXPECT_TRUE(bn.weight().grad().defined());
  EXPECT_TRUE(bn.bias().grad().defined());
  EXPECT_EQ(bn.output_shape({3, 5, 5}), (Shape{3, 5, 5}));
}

TEST(NormModulesTest, BatchNormErrors) {
  expect_error([] { nn::BatchNorm1d bn({.features = 0}); },
               "BatchNorm1d: features must be positive, got 0");
  expect_error([] { nn::BatchNorm2d bn({.features = 3, .eps = 0.0f}); },
               "BatchNorm2d: eps must be positive, got 0");
  expect_error([] { nn::BatchNorm2d bn({.features = 3, .momentum = 2.0f}); },
               "BatchNorm2d: momentum must be in [0, 1], got 2");
  nn::BatchNorm1d bn1({.features = 3});
  nn::BatchNorm2d bn2({.features = 3, .affine = false});
  EXPECT_EQ(bn2.name(), "BatchNorm2d(3, affine=false)");
  EXPECT_EQ(bn2.parameter_count(), 0);
  expect_error(
      [&] {
        bn1(Tensor::zeros({4, 2}));
      },
      "BatchNorm1d(3): expects samples of shape (3) or (3, L), got [2]");
  expect_error(
      [&] {
        bn2(Tensor::zeros({4, 3}));
      },
      "BatchNorm2d(3, affine=false): expects samples of shape (3, H, W), got [3]");
  expect_error([&] { bn1(Tensor::zeros({3})); },
               "BatchNorm1d(3): expects samples of shape (3) or (3, L), got []");
  expect_error([&] { bn1(Tensor()); }, "BatchNorm1d(3): the input is undefined or a scalar");
}

TEST(NormModulesTest, LayerNormModule) {
  nn::LayerNorm ln({.shape = {2, 3}});
  EXPECT_EQ(ln.name(), "LayerNorm(2, 3)");
  EXPECT_EQ(ln.parameter_count(), 12);
  Generator gen(4);
  Tensor x = Tensor::uniform({5, 2, 3}, -1.0f, 1.0f, gen);
  ln.weight().fill_(1.0f);
  EXPECT_TRUE(allclose(ln(x), layer_norm(x, {2, 3}), 1e-6f, 1e-6f));
  EXPECT_EQ(ln.output_shape({4, 2, 3}), (Shape{4, 2, 3}));
  expect_error(
      [&] {
        ln.output_shape({3, 2});
      },
      "LayerNorm(2, 3): expects samples ending in [2, 3], got [3, 2]");
  expect_error([] { nn::LayerNorm bad({.shape = {}}); }, "LayerNorm: shape must not be empty");
  expect_error(
      [] {
        nn::LayerNorm bad({.shape = {2, 0}});
      },
      "LayerNorm: every extent of shape must be positive, got [2, 0]");
  expect_error([] { nn::LayerNorm bad({.shape = {2}, .eps = 0.0f}); },
               "LayerNorm: eps must be positive, got 0");
  EXPECT_EQ(nn::LayerNorm({.shape = {4}, .affine = false}).name(), "LayerNorm(4, affine=false)");
}

TEST(NormModulesTest, DropoutModuleTrainEvalAndSeed) {
  nn::Dropout d(0.5f, 11), same(0.5f, 11);
  EXPECT_EQ(d.name(), "Dropout(0.5)");
  EXPECT_EQ(d.parameter_count(), 0);
  Tensor x = Tensor::ones({1000});
  Tensor y = d(x);
  EXPECT_EQ(y.to_vector(), same(x).to_vector());
  int64_t zeros = 0;
  for (float v : y.values()) {
    EXPECT_TRUE(v == 0.0f || v == 2.0f);
    zeros += v == 0.0f;
  }
  EXPECT_GT(zeros, 400);
  EXPECT_LT(zeros, 600);
  d.eval();
  EXPECT_EQ(d(x).to_vector(), x.to_vector());
  expect_error([] { nn::Dropout bad(1.0f); }, "Dropout: p must be in [0, 1), got 1");
}

// Hand-built dropout layers draw their seeds from the library's generator: two layers differ, and
// manual_seed makes a model's masks reproducible.
TEST(NormModulesTest, DropoutSeedsComeFromTheLibrarysGenerator) {
  const Tensor x = Tensor::ones({1000});
  const auto masks = [&] {
    nn::Dropout first(0.5f), second(0.5f);
    return std::pair{first(x).to_vector(), second(x).to_vector()};
  };
  manual_seed(3);
  const auto a = masks();
  EXPECT_NE(a.first, a.second);
  manual_seed(3);
  const auto b = masks();
  EXPECT_EQ(a.first, b.first);
  EXPECT_EQ(a.second, b.second);
  manual_seed(4);
  EXPECT_NE(masks().first, a.first);
  // A generator of one's own serves too.
  Generator g1(9), g2(9);
  nn::Dropout from_g1(0.5f, g1), from_g2(0.5f, g2);
  EXPECT_EQ(from_g1(x).to_vector(), from_g2(x).to_vector());
}

TEST(NormModulesTest, EmbeddingModule) {
  Generator gen(5);
  nn::Embedding emb(100, 8, gen);
  EXPECT_EQ(emb.name(), "Embedding(100, 8)");
  EXPECT_EQ(emb.parameter_count(), 800);
  // N(0, 1) initialisation.
  double s = 0, sq = 0;
  for (float v : emb.weight().values()) {
    s += v;
    sq += static_cast<double>(v) * v;
  }
  EXPECT_NEAR(s / 800, 0.0, 0.15);
  EXPECT_NEAR(sq / 800 - (s / 800) * (s / 800), 1.0, 0.15);
  Tensor y = emb(Tensor::from_data({3, 99, 3}, {3}));
  EXPECT_EQ(y.shape(), (Shape{3, 8}));
  for (int64_t j = 0; j < 8; ++j) EXPECT_EQ(y.at({0, j}), emb.weight().at({3, j}));
  EXPECT_EQ(emb.output_shape({5}), (Shape{5, 8}));
  expect_error([&] { emb(Tensor::from_data({100}, {1})); },
               "embedding: index 100 at position 0 is out of range [0, 100)");
  expect_error([] { nn::Embedding bad(0, 3); },
               "Embedding: sizes must be positive (got num=0, dim=3)");
}

TEST(NormModulesTest, NamedBuffersRecurseThroughChildren) {
  nn::Sequential net({std::make_shared<nn::Linear>(3, 4),
                      std::make_shared<nn::BatchNorm1d>(nn::BatchNormOptions{.features = 4}),
                      std::make_shared<nn::Dropout>(0.1f),
                      std::make_shared<nn::BatchNorm1d>(nn::BatchNormOptions{.features = 4})});
  std::vector<std::string> names;
  for (auto& [name, b] : net.named_buffers()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"1.running_mean", "1.running_var", "3.running_mean",
                                             "3.running_var"}));
  // Buffers are not parameters: optimizers never see them.
  for (auto& [name, p] : net.named_parameters()) EXPECT_EQ(name.find("running"), std::string::npos);
}

// ---- model specs ----

TEST(NormModulesTest, SpecLayersBuildTheRightModules) {
  Generator gen(6);
  auto net =
      nn::build_model(nn::parse_model_spec("batchnorm,dense(4),dropout(0.25),layernorm"), {3}, gen);
  EXPECT_EQ((*net)[0].name(), "BatchNorm1d(3)");
  EXPECT_EQ((*net)[2].name(), "Dropout(0.25)");
  EXPECT_EQ((*net)[3].name(), "LayerNorm(4)");
  EXPECT_EQ(net->parameter_count(), 6 + 16 + 8);

  auto images = nn::build_model(
      nn::parse_model_spec("batchnorm(momentum=0.2, eps=0.001),layernorm"), {2, 4, 4}, gen);
  EXPECT_EQ((*images)[0].name(), "BatchNorm2d(2)");
  EXPECT_EQ((*images)[1].name(), "LayerNorm(2, 4, 4)");
  EXPECT_EQ(images->output_shape({2, 4, 4}), (Shape{2, 4, 4}));

  auto words = nn::build_model(nn::parse_model_spec("embedding(10, 4),flatten,dense(2)"), {5}, gen);
  EXPECT_EQ((*words)[0].name(), "Embedding(10, 4)");
  EXPECT_EQ(words->output_shape({5}), (Shape{2}));
  Tensor y = words->forward(Tensor::from_data({0, 1, 2, 3, 9, 9, 9, 9, 9, 9}, {2, 5}));
  EXPECT_EQ(y.shape(), (Shape{2, 2}));
  EXPECT_EQ(nn::to_string(nn::parse_model_spec("Embedding(num=10, dim=4), DROPOUT")),
            "embedding(num=10,dim=4),dropout");
}

TEST(NormModulesTest, SpecLayerErrors) {
  Generator gen(8);
  expect_error([] { nn::parse_model_spec("dropout(1)"); },
               "model spec: layer 1 'dropout' (column 1): argument 'p' must be in [0, 1), got 1");
  expect_error([] { nn::parse_model_spec("relu,batchnorm(momentum=1.5)"); },
               "layer 2 'batchnorm' (column 6): argument 'momentum' must be in [0, 1], got 1.5");
  expect_error([] { nn::parse_model_spec("layernorm(eps=0)"); },
               "argument 'eps' must be in (0, 1000], got 0");
  expect_error([] { nn::parse_model_spec("embedding(10)"); }, "missing argument 'dim'");
  expect_error([] { nn::parse_model_spec("embedding(10, 2.5)"); },
               "argument 'dim' must be a positive integer, got 2.5");
  expect_error([] { nn::parse_model_spec("batchnorm(0.1, 1e-5, 3)"); }, "unexpected argument '3'");
  expect_error(
      [&] {
        nn::build_model(nn::parse_model_spec("batchnorm"), {2, 3}, gen);
      },
      "layer 1 'batchnorm' (column 1): needs samples of shape (C) or (C, H, W), got [2, 3]");
  expect_error(
      [&] { nn::build_model(nn::parse_model_spec("embedding(1000, 1000)"), {4}, gen, 5000); },
      "needs 1000000 parameters, more than the 5000 available");
}

TEST(NormModulesTest, SaveLoadKeepsRunningStatistics) {
  namespace fs = std::filesystem;
  Generator gen(7);
  Model m = Model::create(nn::parse_model_spec("dense(4),batchnorm,relu,dropout(0.3),dense(2)"),
                          {3}, gen);
  // Train-mode passes move the running statistics away from their initial 0 and 1.
  for (int i = 0; i < 3; ++i) m.network->forward(Tensor::normal({16, 3}, 2.0f, 3.0f, gen));
  const std::string path =
      (fs::temp_directory_path() / ("bp_norm_model_" + std::to_string(::getpid()) + ".bp"))
          .string();
  save_model(path, m);
  Model loaded = load_model(path);
  fs::remove(path);
  auto ba = m.network->named_buffers(), bb = loaded.network->named_buffers();
  ASSERT_EQ(ba.size(), 2u);
  ASSERT_EQ(bb.size(), 2u);
  for (size_t i = 0; i < ba.size(); ++i) {
    EXPECT_EQ(ba[i].first, bb[i].first);
    EXPECT_EQ(ba[i].second.to_vector(), bb[i].second.to_vector()) << ba[i].first;
  }
  EXPECT_NE(ba[0].second.data()[0], 0.0f);
  Tensor x = Tensor::normal({5, 3}, 2.0f, 3.0f, gen);
  Tensor pa = m.predict(x), pb = loaded.predict(x);
  ASSERT_EQ(pa.shape(), pb.shape());
  for (int64_t i = 0; i < pa.numel(); ++i)
    EXPECT_EQ(std::bit_cast<uint32_t>(pa.data()[i]), std::bit_cast<uint32_t>(pb.data()[i]));
}

}  // namespace
}  // namespace bp
