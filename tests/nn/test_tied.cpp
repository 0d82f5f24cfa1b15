// Tied weights: one tensor registered under two names is one parameter everywhere (the module's
// lists, the optimizers, the trainer's split step, the gradient reducer, parameter files).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "backprop/distributed.hpp"
#include "backprop/model.hpp"
#include "backprop/train.hpp"
#include "test_util.hpp"

namespace bp {
namespace {

using bp::testing::expect_error;

// An autoencoder whose decoder is the transpose of its encoder: y = tanh(x·Wᵀ)·W, then a head.
class TiedAutoencoder : public nn::Module {
 public:
  TiedAutoencoder(int64_t in, int64_t code, int64_t classes, uint64_t seed) {
    Generator gen(seed);
    encoder_ = register_module(
        "encoder",
        std::make_shared<nn::Linear>(nn::LinearOptions{.in = in, .out = code, .bias = false}, gen));
    decoder_weight_ = register_parameter("decoder_weight", encoder_->weight());
    if (classes > 0)
      head_ = register_module("head", std::make_shared<nn::Linear>(in, classes, gen));
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = matmul(tanh(encoder_->forward(x)), decoder_weight_);
    return head_ ? head_->forward(tanh(y)) : y;
  }
  std::string name() const override { return "TiedAutoencoder"; }
  bool thread_safe_forward() const override { return true; }
  Tensor& weight() { return decoder_weight_; }

 private:
  std::shared_ptr<nn::Linear> encoder_, head_;
  Tensor decoder_weight_;
};

TEST(TiedWeights, AreOneParameter) {
  TiedAutoencoder net(4, 2, 0, 1);
  ASSERT_EQ(net.parameters().size(), 1u);
  EXPECT_TRUE(net.parameters()[0].is_same(net.weight()));
  // Listed under its first name in the walk: the module's own parameters come before its
  // children's.
  EXPECT_EQ(net.named_parameters()[0].first, "decoder_weight");
  EXPECT_EQ(net.parameter_count(), 8);
  // A module registered twice is walked twice but its parameters are listed once.
  nn::Sequential twice;
  auto shared = std::make_shared<nn::Linear>(3, 3);
  twice.add(shared).add(std::make_shared<nn::Tanh>()).add(shared);
  EXPECT_EQ(twice.parameters().size(), 2u);
  EXPECT_EQ(twice.named_parameters()[1].first, "0.bias");
  // An optimizer given the same tensor twice refuses it.
  expect_error(
      [&] {
        optim::SGD({net.weight(), net.weight()}, {.lr = 0.1f});
      },
      "parameter 1 is the same tensor as parameter 0");
}

class Registering : public nn::Module {
 public:
  Tensor forward(const Tensor& x) override { return x; }
  std::string name() const override { return "Registering"; }
  using Module::register_buffer, Module::register_module, Module::register_parameter;
};

TEST(Registration, ReturnsWhatItRegisteredAndRefusesARepeatedName) {
  Registering m;
  auto lin = std::make_shared<nn::Linear>(2, 3);
  std::shared_ptr<nn::Linear> got = m.register_module("lin", lin);
  EXPECT_EQ(got, lin);
  Tensor w = Tensor::zeros({2});
  Tensor& p = m.register_parameter("w", w);
  EXPECT_TRUE(p.is_same(w));
  EXPECT_TRUE(w.requires_grad());
  m.register_buffer("b", Tensor::zeros({1}));
  expect_error([&] { m.register_parameter("w", Tensor::ones({2})); },
               "register_parameter: the name 'w' is already registered in Registering");
  expect_error([&] { m.register_buffer("lin", Tensor::ones({2})); }, "the name 'lin' is already");
  expect_error([&] { m.register_module("b", std::make_shared<nn::ReLU>()); },
               "the name 'b' is already");
  expect_error([&] { m.register_parameter("a.b", Tensor::ones({2})); }, "without '.'");
  expect_error([&] { m.register_module("", std::make_shared<nn::ReLU>()); }, "must be non-empty");
  EXPECT_EQ(m.parameters().size(), 3u);  // nothing was added by the refused calls
}

// One SGD step moves the tied weight by lr times the sum of both paths' gradients, computed here
// by hand: L = mean((y − x)²), y = h·W, h = tanh(x·Wᵀ).
TEST(TiedWeights, OneSgdStepMatchesAHandComputation) {
  const int64_t n = 3, in = 4, code = 2;
  TiedAutoencoder net(in, code, 0, 2);
  Generator gen(3);
  Tensor x = Tensor::uniform({n, in}, -1, 1, gen);
  const std::vector<float> w = net.weight().to_vector(), xv = x.to_vector();
  std::vector<float> h(n * code), y(n * in, 0.0f), grad(code * in, 0.0f);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < code; ++c) {
      double a = 0;
      for (int64_t j = 0; j < in; ++j) a += xv[i * in + j] * w[c * in + j];
      h[i * code + c] = static_cast<float>(std::tanh(a));
      for (int64_t j = 0; j < in; ++j) y[i * in + j] += h[i * code + c] * w[c * in + j];
    }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < code; ++c) {
      double dh = 0;
      for (int64_t j = 0; j < in; ++j) {
        const double dy = 2.0 * (y[i * in + j] - xv[i * in + j]) / (n * in);
        grad[c * in + j] += static_cast<float>(h[i * code + c] * dy);  // the decoder's path
        dh += dy * w[c * in + j];
      }
      const double da = dh * (1 - h[i * code + c] * h[i * code + c]);
      for (int64_t j = 0; j < in; ++j)  // the encoder's path
        grad[c * in + j] += static_cast<float>(da * xv[i * in + j]);
    }
  optim::SGD sgd(net.parameters(), {.lr = 0.5f});
  mse_loss(net.forward(x), x).backward();
  sgd.step();
  const std::vector<float> stepped = net.weight().to_vector();
  for (size_t k = 0; k < w.size(); ++k) EXPECT_NEAR(stepped[k], w[k] - 0.5f * grad[k], 1e-5f) << k;
}

data::Dataset synthetic(int64_t n, uint64_t seed) {
  Generator gen(seed);
  data::Dataset d;
  d.features = Tensor::uniform({n, 12}, -1.0f, 1.0f, gen);
  d.feature_shape = {12};
  d.num_classes = 3;
  for (int64_t i = 0; i < n; ++i)
    d.labels.push_back(d.features.data()[12 * i] > 0 ? 1 : i % 3 == 0 ? 2 : 0);
  return d;
}

// The trainer's split step (a batch across two threads) trains a tied model as one pass does.
TEST(TiedWeights, SplitTrainingMatchesOnePassAndAdam) {
  data::Dataset train = synthetic(300, 4);
  auto run = [&](bool split) {
    const int saved = num_threads();
    set_num_threads(2);
    TiedAutoencoder net(12, 5, 3, 5);
    optim::Adam adam(net.parameters(), {.lr = 0.01f});
    train::Trainer trainer(net, adam, {.epochs = 2, .batch_size = 50, .split_batch = split});
    EXPECT_EQ(trainer.batch_threads(50), split ? 2 : 1);
    trainer.fit(train, {});
    set_num_threads(saved);
    return net.parameters();
  };
  const std::vector<Tensor> split = run(true), whole = run(false);
  ASSERT_EQ(split.size(), whole.size());
  ASSERT_EQ(split.size(), 3u);
  for (size_t i = 0; i < split.size(); ++i)
    EXPECT_TRUE(allclose(split[i], whole[i], 1e-4f, 1e-5f)) << i;
}

TEST(TiedWeights, GradientReducerAndParameterFiles) {
  TiedAutoencoder net(4, 2, 2, 6);
  distributed::GradientReducer reducer(distributed::Communicator::world(), net.parameters());
  Generator gen(7);
  Tensor x = Tensor::uniform({5, 4}, -1, 1, gen);
  sum(net.forward(x)).backward();
  const std::vector<float> full = net.weight().grad().to_vector();
  net.zero_grad();
  reducer.begin(0.5);
  sum(net.forward(x)).backward();
  reducer.finish();
  const std::vector<float> halved = net.weight().grad().to_vector();
  for (size_t k = 0; k < full.size(); ++k) EXPECT_NEAR(halved[k], 0.5f * full[k], 1e-6f) << k;

  const std::string path =
      (std::filesystem::temp_directory_path() / ("bp_tied_" + std::to_string(::getpid()))).string();
  save_parameters(net, path);
  TiedAutoencoder other(4, 2, 2, 8);
  load_parameters(other, path);
  std::filesystem::remove(path);
  EXPECT_TRUE(allclose(other.forward(x), net.forward(x), 0, 0));
  EXPECT_TRUE(other.parameters()[0].is_same(other.weight()));  // still tied
}

}  // namespace
}  // namespace bp
