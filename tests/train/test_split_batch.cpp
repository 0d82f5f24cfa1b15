// Splitting a training batch across threads: leaf-gradient sinks, and a trainer whose split steps
// match one pass over the whole batch.
#include <gtest/gtest.h>

#include <thread>

#include "backprop/conv.hpp"
#include "backprop/norm.hpp"
#include "backprop/train.hpp"
#include "test_util.hpp"

namespace bp::train {
namespace {

// n samples of 20 features with labels in [0, 4), learnable from the features.
data::Dataset synthetic(int64_t n, uint64_t seed) {
  Generator gen(seed);
  data::Dataset d;
  d.features = Tensor::uniform({n, 20}, -1.0f, 1.0f, gen);
  d.feature_shape = {20};
  d.num_classes = 4;
  const float* x = d.features.data();
  for (int64_t i = 0; i < n; ++i)
    d.labels.push_back((x[20 * i] > 0 ? 1 : 0) + (x[20 * i + 1] > 0 ? 2 : 0));
  return d;
}

// Two trainings' parameters agree to 1e-4, element by element.
void expect_same_parameters(const std::vector<Tensor>& got, const std::vector<Tensor>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const std::vector<float> a = got[i].to_vector(), b = want[i].to_vector();
    ASSERT_EQ(a.size(), b.size()) << i;
    for (size_t j = 0; j < a.size(); ++j) ASSERT_NEAR(a[j], b[j], 1e-4f) << i << "," << j;
  }
}

std::shared_ptr<nn::Sequential> mlp(uint64_t seed) {
  Generator gen(seed);
  return std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(20, 64, gen), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(64, 32, gen), std::make_shared<nn::Tanh>(),
      std::make_shared<nn::Linear>(32, 4, gen)});
}

using testing::ThreadsScope;

TEST(LeafGradientSink, ThreadsBackpropagatingAtOnceEachCollectTheirOwn) {
  auto net = mlp(3);
  data::Dataset d = synthetic(64, 4);
  Tensor x = d.features;
  const std::vector<int64_t> labels = d.labels;
  // Reference: the whole batch's gradient (the mean over 64 = the halves' means averaged).
  cross_entropy(net->forward(x), labels).backward();
  std::vector<Tensor> want;
  for (const Tensor& p : net->parameters()) want.push_back(p.grad().clone());
  net->zero_grad();

  std::vector<std::vector<Tensor>> got(2);
  auto half = [&](int h) {
    autograd::LeafGradientSink sink;
    Tensor xs = slice(x, 0, 32 * h, 32 * h + 32);
    std::vector<int64_t> ls(labels.begin() + 32 * h, labels.begin() + 32 * h + 32);
    (cross_entropy(net->forward(xs), ls) * 0.5f).backward();
    for (const Tensor& p : net->parameters()) got[static_cast<size_t>(h)].push_back(sink.grad(p));
  };
  std::thread a(half, 0), b(half, 1);
  a.join();
  b.join();
  // Nothing reached the parameters themselves.
  for (const Tensor& p : net->parameters()) {
    if (!p.grad().defined()) continue;
    for (float v : p.grad().to_vector()) EXPECT_EQ(v, 0.0f);
  }
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_TRUE(got[0][i].defined() && got[1][i].defined());
    const std::vector<float> w = want[i].to_vector();
    const std::vector<float> g0 = got[0][i].to_vector(), g1 = got[1][i].to_vector();
    for (size_t j = 0; j < w.size(); ++j) EXPECT_NEAR(g0[j] + g1[j], w[j], 1e-5f) << i << "," << j;
  }
}

TEST(LeafGradientSink, NestsAndRestores) {
  Tensor w = Tensor::from_data({2.0f}, {1}, true);
  {
    autograd::LeafGradientSink outer;
    {
      autograd::LeafGradientSink inner;
      sum(w * 3.0f).backward();
      EXPECT_EQ(inner.grad(w).item(), 3.0f);
    }
    EXPECT_FALSE(outer.grad(w).defined());
    sum(w * 5.0f).backward();
    sum(w * 1.0f).backward();
    EXPECT_EQ(outer.grad(w).item(), 6.0f);  // contributions add up
  }
  EXPECT_FALSE(w.grad().defined());
  sum(w * 7.0f).backward();
  EXPECT_EQ(w.grad().item(), 7.0f);
}

TEST(SplitBatch, OnlyModelsThatAllowItAreSplit) {
  ThreadsScope threads(2);
  auto net = mlp(1);
  optim::SGD sgd(net->parameters(), {.lr = 0.1f});
  Trainer split(*net, sgd, {.epochs = 1});
  EXPECT_EQ(split.batch_threads(128), 2);
  EXPECT_EQ(split.batch_threads(20), 1);  // too few rows to share
  Trainer whole(*net, sgd, {.epochs = 1, .split_batch = false});
  EXPECT_EQ(whole.batch_threads(128), 1);
  Generator gen(2);
  nn::Sequential with_dropout(
      {std::make_shared<nn::Linear>(20, 4, gen), std::make_shared<nn::Dropout>(0.5f)});
  Trainer dropout(with_dropout, sgd, {.epochs = 1});
  EXPECT_EQ(dropout.batch_threads(128), 2);  // its masks follow the rows' places in the batch
  nn::Sequential with_batch_norm(
      {std::make_shared<nn::Linear>(20, 4, gen),
       std::make_shared<nn::BatchNorm1d>(nn::BatchNormOptions{.features = 4})});
  Trainer batch_norm(with_batch_norm, sgd, {.epochs = 1});
  EXPECT_EQ(batch_norm.batch_threads(128), 2);  // its parts total the batch's statistics
}

// Dropout split across threads draws the masks of one pass: the same key for every part of a
// batch, and each row's place in the batch as its position in the stream.
TEST(SplitBatch, DropoutSplitsAndMatchesOnePass) {
  data::Dataset train = synthetic(610, 13);  // a last, smaller batch too
  auto run = [&](bool split) {
    ThreadsScope threads(2);
    Generator gen(6);
    auto net = std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
        std::make_shared<nn::Linear>(20, 64, gen), std::make_shared<nn::ReLU>(),
        std::make_shared<nn::Dropout>(0.4f, 77), std::make_shared<nn::Linear>(64, 4, gen)});
    optim::SGD sgd(net->parameters(), {.lr = 0.1f, .momentum = 0.9f});
    Trainer trainer(*net, sgd, {.epochs = 3, .batch_size = 100, .split_batch = split});
    EXPECT_EQ(trainer.batch_threads(100), split ? 2 : 1);
    auto stats = trainer.fit(train, {});
    return std::pair{net->parameters(), stats};
  };
  auto [split_params, split_stats] = run(true);
  auto [whole_params, whole_stats] = run(false);
  expect_same_parameters(split_params, whole_params);
  for (size_t e = 0; e < split_stats.size(); ++e)
    EXPECT_NEAR(split_stats[e].train_loss, whole_stats[e].train_loss, 1e-4);
}

// Recurrent layers and attention compute each sample's sequence on its own, so they split too:
// the same training as one pass over each batch.
TEST(SplitBatch, SequenceModelsSplitAndMatchOnePass) {
  data::Dataset train = synthetic(310, 14);              // a last, smaller batch too
  train.features = train.features.reshape({310, 5, 4});  // five steps of four features
  train.feature_shape = {5, 4};
  using Make = std::function<std::shared_ptr<nn::Module>(Generator&)>;
  const std::vector<std::pair<const char*, Make>> models = {
      {"lstm",
       [](Generator& g) {
         return std::make_shared<nn::LSTM>(
             nn::RecurrentOptions{.input = 4, .hidden = 8, .layers = 2}, g);
       }},
      {"gru",
       [](Generator& g) {
         return std::make_shared<nn::GRU>(nn::RecurrentOptions{.input = 4, .hidden = 8}, g);
       }},
      {"attention", [](Generator& g) {
         return std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
             std::make_shared<nn::MultiheadAttention>(
                 nn::AttentionOptions{.dim = 4, .heads = 2, .causal = true}, g),
             std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(20, 8, g)});
       }}};
  for (const auto& model : models) {
    SCOPED_TRACE(model.first);
    const Make& make = model.second;  // clang 14 cannot capture a structured binding
    auto run = [&](bool split) {
      ThreadsScope threads(2);
      Generator gen(9);
      nn::Sequential net(
          {make(gen), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(8, 4, gen)});
      optim::SGD sgd(net.parameters(), {.lr = 0.1f, .momentum = 0.9f});
      Trainer trainer(net, sgd, {.epochs = 2, .batch_size = 100, .split_batch = split});
      EXPECT_EQ(trainer.batch_threads(100), split ? 2 : 1);
      auto stats = trainer.fit(train, {});
      return std::pair{net.parameters(), stats};
    };
    auto [split_params, split_stats] = run(true);
    auto [whole_params, whole_stats] = run(false);
    expect_same_parameters(split_params, whole_params);
    for (size_t e = 0; e < split_stats.size(); ++e)
      EXPECT_NEAR(split_stats[e].train_loss, whole_stats[e].train_loss, 1e-4);
  }
}

// The split step (threads sharing the gradient sum and the optimizer's update slice by slice)
// trains the same model as one pass over each batch, for a momentum and an adaptive optimizer.
class SplitMatches : public ::testing::TestWithParam<std::string> {};

TEST_P(SplitMatches, OnePassOverTheBatch) {
  data::Dataset train = synthetic(600, 9), test = synthetic(200, 10);
  auto run = [&](bool split) {
    ThreadsScope threads(2);
    auto net = mlp(5);
    auto opt = optim::make_optimizer(GetParam(), net->parameters(),
                                     {.lr = GetParam() == "sgd" ? 0.1f : 0.01f, .momentum = 0.9f});
    Trainer trainer(*net, *opt, {.epochs = 8, .batch_size = 100, .split_batch = split});
    EXPECT_EQ(trainer.batch_threads(100), split ? 2 : 1);
    auto stats = trainer.fit(train, {{"test", &test}});
    return std::pair{net->parameters(), stats};
  };
  auto [split_params, split_stats] = run(true);
  auto [whole_params, whole_stats] = run(false);
  expect_same_parameters(split_params, whole_params);
  for (size_t e = 0; e < split_stats.size(); ++e) {
    EXPECT_NEAR(split_stats[e].train_loss, whole_stats[e].train_loss, 1e-4);
    EXPECT_EQ(split_stats[e].train_accuracy, whole_stats[e].train_accuracy);
  }
  EXPECT_GT(split_stats.back().eval("test")->accuracy, 0.8);  // it learned
}

INSTANTIATE_TEST_SUITE_P(Optimizers, SplitMatches, ::testing::Values("sgd", "adam"));

// n images (2, 6, 6) with labels in [0, 4), learnable from two pixels; `scale` and `shift` make
// the pixels' statistics far from zero mean and unit variance, as batch norm expects to undo.
data::Dataset images(int64_t n, uint64_t seed) {
  data::Dataset d = synthetic(n, seed);
  Generator gen(seed + 1);
  Tensor x = Tensor::uniform({n, 2, 6, 6}, -1.0f, 1.0f, gen);
  for (int64_t i = 0; i < n; ++i) {
    x.data()[72 * i] = d.features.data()[20 * i];
    x.data()[72 * i + 40] = d.features.data()[20 * i + 1];
  }
  d.features = x * 3.0f + 1.5f;
  d.feature_shape = {2, 6, 6};
  return d;
}

// The layers under test: BatchNorm1d on (N, C) and on (N, C, L), BatchNorm2d, inside a
// residual block too, and dropout between them.
std::shared_ptr<nn::Module> batch_norm_model(const std::string& kind) {
  Generator gen(21);
  using Layers = std::vector<std::shared_ptr<nn::Module>>;
  auto seq = [](Layers layers) { return std::make_shared<nn::Sequential>(std::move(layers)); };
  if (kind == "mlp")
    return seq({std::make_shared<nn::Linear>(20, 32, gen),
                std::make_shared<nn::BatchNorm1d>(nn::BatchNormOptions{.features = 32}),
                std::make_shared<nn::ReLU>(), std::make_shared<nn::Dropout>(0.2f, gen),
                std::make_shared<nn::Linear>(32, 4, gen),
                std::make_shared<nn::BatchNorm1d>(nn::BatchNormOptions{.features = 4})});
  auto conv = [&](int64_t in, int64_t out) {
    return std::make_shared<nn::Conv2d>(
        nn::Conv2dOptions{.in = in, .out = out, .kernel = 3, .padding = 1, .bias = false}, gen);
  };
  auto head = seq({std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(144, 4, gen)});
  if (kind == "cnn")
    return seq({conv(2, 4), std::make_shared<nn::BatchNorm2d>(nn::BatchNormOptions{.features = 4}),
                std::make_shared<nn::ReLU>(), head});
  if (kind == "residual")
    return seq(
        {conv(2, 4), std::make_shared<nn::BatchNorm2d>(nn::BatchNormOptions{.features = 4}),
         std::make_shared<nn::ReLU>(),
         std::make_shared<nn::Residual>(seq(
             {conv(4, 4), std::make_shared<nn::BatchNorm2d>(nn::BatchNormOptions{.features = 4}),
              std::make_shared<nn::ReLU>(), conv(4, 4),
              std::make_shared<nn::BatchNorm2d>(nn::BatchNormOptions{.features = 4})})),
         std::make_shared<nn::ReLU>(), head});
  // "sequence": (N, C, L) samples of 4 channels of 5 values.
  return seq({std::make_shared<nn::BatchNorm1d>(nn::BatchNormOptions{.features = 4}),
              std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(20, 16, gen),
              std::make_shared<nn::Tanh>(), std::make_shared<nn::Linear>(16, 4, gen)});
}

// Every parameter and buffer (running statistics) of a model, copied.
std::vector<Tensor> state_of(const nn::Module& model) {
  std::vector<Tensor> state;
  for (const Tensor& p : model.parameters()) state.push_back(p.clone());
  for (const auto& [name, b] : model.named_buffers()) state.push_back(b.clone());
  return state;
}

// Batch norm split across threads totals its statistics (and the sums of its backward pass) over
// the whole batch: after several steps the parameters and running statistics are those of one
// pass. Three threads split a batch of 100 unevenly (33, 33, 34), and the last batch of 50 too.
class BatchNormSplit : public ::testing::TestWithParam<std::string> {};

TEST_P(BatchNormSplit, MatchesOnePass) {
  const bool images_in = GetParam() == "cnn" || GetParam() == "residual";
  data::Dataset train = images_in ? images(650, 31) : synthetic(650, 31);
  if (GetParam() == "sequence") {
    train.features = reshape(train.features * 2.0f - 0.5f, {650, 4, 5});
    train.feature_shape = {4, 5};
  }
  auto run = [&](bool split) {
    ThreadsScope threads(3);
    auto net = batch_norm_model(GetParam());
    optim::SGD sgd(net->parameters(), {.lr = 0.05f, .momentum = 0.9f});
    Trainer trainer(*net, sgd, {.epochs = 3, .batch_size = 100, .split_batch = split});
    EXPECT_EQ(trainer.batch_threads(100), split ? 3 : 1);
    auto stats = trainer.fit(train, {});
    return std::pair{state_of(*net), stats};
  };
  auto [split_state, split_stats] = run(true);
  auto [whole_state, whole_stats] = run(false);
  expect_same_parameters(split_state, whole_state);
  for (size_t e = 0; e < split_stats.size(); ++e)
    EXPECT_NEAR(split_stats[e].train_loss, whole_stats[e].train_loss, 1e-4);
  EXPECT_LT(split_stats.back().train_loss, split_stats.front().train_loss);  // it learned
}

INSTANTIATE_TEST_SUITE_P(Models, BatchNormSplit,
                         ::testing::Values("mlp", "sequence", "cnn", "residual"));

// Throws on rows holding a value above 5, as a layer failing on some rows would: the marker, or,
// after batch norm, what it becomes (about 10: one value far from 99 others in [-1, 1]).
class FailsOnMarker : public nn::Module {
 public:
  static constexpr float kMarker = 1000.0f;
  Tensor forward(const Tensor& input) override {
    for (float v : input.to_vector()) BP_CHECK(v < 5, "FailsOnMarker: the marker");
    return input;
  }
  std::string name() const override { return "FailsOnMarker"; }
  bool thread_safe_forward() const override { return true; }
};

// A part that fails before or after a batch norm layer (so that the others wait for it there in
// forward or in backward) fails the step with its own error; no part waits for it forever.
TEST(SplitBatch, APartFailingNextToBatchNormStopsTheStep) {
  ThreadsScope threads(2);
  data::Dataset train = synthetic(200, 5);
  train.features.data()[20 * 60] = FailsOnMarker::kMarker;  // in the second part of batch 1
  for (bool before : {true, false}) {
    Generator gen(3);
    auto first = before ? std::shared_ptr<nn::Module>(std::make_shared<FailsOnMarker>())
                        : std::make_shared<nn::BatchNorm1d>(nn::BatchNormOptions{.features = 20});
    auto second = before ? std::shared_ptr<nn::Module>(std::make_shared<nn::BatchNorm1d>(
                               nn::BatchNormOptions{.features = 20}))
                         : std::make_shared<FailsOnMarker>();
    nn::Sequential net({first, second, std::make_shared<nn::Linear>(20, 4, gen)});
    optim::SGD sgd(net.parameters(), {.lr = 0.1f});
    Trainer trainer(net, sgd, {.epochs = 1, .batch_size = 100, .shuffle = false});
    ASSERT_EQ(trainer.batch_threads(100), 2);
    testing::expect_error([&] { trainer.fit(train, {}); }, "FailsOnMarker: the marker");
  }
}

// A part whose loss is not finite runs no backward pass; the others, waiting for it at batch
// norm's backward sums, stop, and the step reports the loss.
TEST(SplitBatch, ANonFiniteLossInOnePartStopsTheStep) {
  ThreadsScope threads(2);
  data::Dataset train = synthetic(200, 6);
  Generator gen(7);
  train.targets = Tensor::uniform({200, 4}, -1.0f, 1.0f, gen);
  train.labels.clear();
  train.num_classes = 0;
  train.task = data::Task::regression;
  train.targets.data()[4 * 150] = std::nanf("");
  nn::Sequential net({std::make_shared<nn::Linear>(20, 4, gen),
                      std::make_shared<nn::BatchNorm1d>(nn::BatchNormOptions{.features = 4})});
  optim::SGD sgd(net.parameters(), {.lr = 0.1f});
  Trainer trainer(net, sgd, {.epochs = 1, .batch_size = 100, .shuffle = false, .loss = Loss::mse});
  ASSERT_EQ(trainer.batch_threads(100), 2);
  testing::expect_error([&] { trainer.fit(train, {}); }, "the loss became nan");
}

// Called from inside a parallel region, the trainer's own region gets one thread, not the two it
// plans for: it must train on the team it got (not wait for a thread that never comes), and
// still match one pass over each batch.
TEST(SplitBatch, TrainsOnTheThreadsOpenMPGrants) {
  ThreadsScope threads(2);
  data::Dataset train = synthetic(300, 4);
  auto run = [&](bool nested) {
    auto net = mlp(8);
    optim::SGD sgd(net->parameters(), {.lr = 0.1f, .momentum = 0.9f});
    Trainer trainer(*net, sgd, {.epochs = 3, .batch_size = 100});
    EXPECT_EQ(trainer.batch_threads(100), 2);
    if (nested) {
#pragma omp parallel num_threads(2)
      {
#pragma omp single
        trainer.fit(train, {});
      }
    } else {
      trainer.fit(train, {});
    }
    return net->parameters();
  };
  const auto nested = run(true), free = run(false);
  expect_same_parameters(nested, free);
}

// Once the shapes have been seen, an epoch takes no tensor memory from the system: every buffer
// comes from the cache. Split across threads, which thread frees a buffer first can change how
// many of one size are alive at once, so a few new ones may still appear there.
TEST(SplitBatch, SteadyStateEpochsTakeNoMemoryFromTheSystem) {
  data::Dataset train = synthetic(610, 12);  // a last, smaller batch too
  for (bool split : {false, true}) {
    ThreadsScope threads(2);
    auto net = mlp(3);
    optim::Adam adam(net->parameters(), {.lr = 0.01f});
    Trainer trainer(*net, adam, {.epochs = 1, .batch_size = 100, .split_batch = split});
    for (int warm_up = 0; warm_up < 4; ++warm_up) trainer.fit(train, {});
    const int64_t before = memory_stats().system_allocations;
    for (int epoch = 0; epoch < 3; ++epoch) trainer.fit(train, {});
    const int64_t taken = memory_stats().system_allocations - before;
    // Without the cache: dozens per step, 7 steps an epoch. Split, the two threads' buffers are
    // live at times that depend on how the threads interleave, so the cache reaches the largest
    // overlap only when it first happens (seen: up to 9 buffers on a loaded machine under ASan).
    if (split)
      EXPECT_LE(taken, 16) << "split";
    else
      EXPECT_EQ(taken, 0) << "one pass";
  }
  EXPECT_GT(memory_stats().cached_bytes, 0);
}

TEST(SplitBatch, ConvolutionsSplitTooAndMatchOnePass) {
  // 8x8 images whose class is which quadrant holds the bright pixel.
  Generator data_gen(21);
  data::Dataset images;
  const int64_t n = 96;
  images.features = Tensor::uniform({n, 1, 8, 8}, 0.0f, 0.2f, data_gen);
  images.feature_shape = {1, 8, 8};
  images.num_classes = 4;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t q = i % 4, y = (q / 2) * 4 + 1 + i % 3, x = (q % 2) * 4 + 1 + (i / 4) % 3;
    images.features.data()[i * 64 + y * 8 + x] = 1.0f;
    images.labels.push_back(q);
  }
  auto run = [&](bool split) {
    ThreadsScope threads(2);
    Generator gen(8);
    nn::Sequential net({std::make_shared<nn::Conv2d>(
                            nn::Conv2dOptions{.in = 1, .out = 4, .kernel = 3, .padding = 1}, gen),
                        std::make_shared<nn::ReLU>(),
                        std::make_shared<nn::MaxPool2d>(nn::MaxPool2dOptions{.kernel = 2}),
                        std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(64, 4, gen)});
    optim::SGD sgd(net.parameters(), {.lr = 0.05f, .momentum = 0.9f});
    Trainer trainer(net, sgd, {.epochs = 2, .batch_size = 48, .split_batch = split});
    EXPECT_EQ(trainer.batch_threads(48), split ? 2 : 1);
    trainer.fit(images, {});
    return net.parameters();
  };
  auto a = run(true), b = run(false);
  for (size_t i = 0; i < a.size(); ++i) {
    const std::vector<float> x = a[i].to_vector(), y = b[i].to_vector();
    for (size_t j = 0; j < x.size(); ++j) ASSERT_NEAR(x[j], y[j], 1e-4f) << i << "," << j;
  }
}

TEST(SplitBatch, AnErrorOnAThreadReachesTheCaller) {
  ThreadsScope threads(2);
  auto net = mlp(1);
  optim::SGD sgd(net->parameters(), {.lr = 0.1f});
  data::Dataset bad = synthetic(64, 1);
  bad.num_classes = 5;
  bad.labels[40] = 4;  // beyond the model's 4 outputs, in the second thread's half
  Trainer trainer(*net, sgd, {.epochs = 1, .batch_size = 64, .shuffle = false});
  bp::testing::expect_error([&] { trainer.fit(bad, {}); },
                            "target 4 at position 8 is not a class index");
}

}  // namespace
}  // namespace bp::train
