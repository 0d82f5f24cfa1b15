// The training loop: learning a small synthetic task, metrics, callbacks and determinism.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "backprop/spec.hpp"
#include "backprop/train.hpp"
#include "test_util.hpp"

namespace bp::train {
namespace {

using bp::testing::expect_error;

// Three 2-D Gaussian blobs, one per class, centred on a triangle of side ~3.5.
data::Dataset blobs(int64_t per_class, uint64_t seed, float spread = 0.5f) {
  const float centres[3][2] = {{0.0f, 2.0f}, {-1.7f, -1.0f}, {1.7f, -1.0f}};
  Generator gen(seed);
  data::Dataset d;
  d.features = Tensor::empty({3 * per_class, 2});
  d.feature_shape = {2};
  d.num_classes = 3;
  float* x = d.features.data();
  for (int64_t i = 0; i < 3 * per_class; ++i) {
    const auto c = static_cast<size_t>(i % 3);
    x[2 * i] = centres[c][0] + gen.normal(0.0f, spread);
    x[2 * i + 1] = centres[c][1] + gen.normal(0.0f, spread);
    d.labels.push_back(static_cast<int64_t>(c));
  }
  d.validate();
  return d;
}

std::shared_ptr<nn::Sequential> mlp(uint64_t seed) {
  Generator gen(seed);
  return nn::build_model(nn::parse_model_spec("dense(16),tanh,dense(3)"), {2}, gen);
}

std::vector<std::vector<float>> weights_of(const nn::Module& m) {
  std::vector<std::vector<float>> out;
  for (const Tensor& p : m.parameters()) out.push_back(p.to_vector());
  return out;
}

TEST(Trainer, LearnsGaussianBlobs) {
  data::Dataset train = blobs(100, 1), test = blobs(50, 2);
  auto net = mlp(3);
  const double before = evaluate(*net, test, Loss::cross_entropy).accuracy;
  optim::SGD sgd(net->parameters(), {.lr = 0.1f, .momentum = 0.9f});
  Trainer trainer(*net, sgd, {.epochs = 15, .batch_size = 16, .seed = 4});
  auto stats = trainer.fit(train, {{"test", &test}});
  ASSERT_EQ(stats.size(), 15u);
  EXPECT_EQ(trainer.history().size(), 15u);
  const Metrics* m = stats.back().eval("test");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(stats.back().eval("nope"), nullptr);
  EXPECT_GT(m->accuracy, 0.9) << "accuracy before training: " << before;
  EXPECT_GT(stats.back().train_accuracy, 0.9);
  EXPECT_LT(stats.back().train_loss, stats.front().train_loss);
  EXPECT_EQ(m->samples, 150);
  for (size_t i = 0; i < stats.size(); ++i) {
    EXPECT_EQ(stats[i].epoch, static_cast<int64_t>(i) + 1);
    EXPECT_GE(stats[i].seconds, 0.0);
    EXPECT_FLOAT_EQ(static_cast<float>(stats[i].lr), 0.1f);
  }
  EXPECT_TRUE(net->is_training());  // evaluation restores the mode
}

TEST(Trainer, ResumedRunMatchesAnUninterruptedOne) {
  data::Dataset train = blobs(20, 1);
  auto a = mlp(3), b = mlp(3);
  optim::SGD sa(a->parameters(), {.lr = 0.05f, .momentum = 0.9f});
  optim::SGD sb(b->parameters(), {.lr = 0.05f, .momentum = 0.9f});
  Trainer(*a, sa, {.epochs = 4, .batch_size = 8, .seed = 2}).fit(train, {});
  Trainer(*b, sb, {.epochs = 2, .batch_size = 8, .seed = 2}).fit(train, {});
  auto ran =
      Trainer(*b, sb, {.epochs = 4, .batch_size = 8, .seed = 2, .start_epoch = 2}).fit(train, {});
  ASSERT_EQ(ran.size(), 2u);
  EXPECT_EQ(ran[0].epoch, 3);
  EXPECT_EQ(weights_of(*a), weights_of(*b));
}

TEST(Trainer, SameSeedGivesIdenticalWeights) {
  data::Dataset train = blobs(30, 5);
  auto run = [&](uint64_t shuffle_seed) {
    auto net = mlp(11);
    optim::SGD sgd(net->parameters(), {.lr = 0.05f, .momentum = 0.5f});
    Trainer(*net, sgd, {.epochs = 3, .batch_size = 7, .seed = shuffle_seed}).fit(train, {});
    return weights_of(*net);
  };
  auto first = run(1);
  EXPECT_EQ(first, run(1));
  EXPECT_NE(first, run(2));  // the shuffling seed matters
}

// 1x8x8 images of three classes, class c a bright band at rows 2c+1..2c+2 over faint noise.
data::Dataset bands(int64_t per_class, uint64_t seed) {
  Generator gen(seed);
  data::Dataset d;
  d.features = Tensor::empty({3 * per_class, 1, 8, 8});
  d.feature_shape = {1, 8, 8};
  d.num_classes = 3;
  float* x = d.features.data();
  for (int64_t i = 0; i < 3 * per_class; ++i) {
    const int64_t c = i % 3;
    for (int64_t p = 0; p < 64; ++p)
      x[i * 64 + p] = p / 8 == 2 * c + 1 || p / 8 == 2 * c + 2 ? gen.uniform(0.6f, 1.0f)
                                                               : gen.uniform(0.0f, 0.3f);
    d.labels.push_back(c);
  }
  d.validate();
  return d;
}

// A short bf16 run follows the fp32 one: same accuracy, losses within a few percent, weights
// near but not equal (the products really ran in bf16), and the precision restored afterwards.
// Also with each batch split across two threads, which share the weights' bf16 copies.
TEST(Trainer, Bf16TrainingFollowsFp32) {
  const data::Dataset train = bands(60, 1), test = bands(20, 2);
  for (int threads : {1, 2})
    for (const char* spec : {"flatten,dense(64),relu,dense(64),relu,dense(3)",
                             "conv(8,3,pad=1),relu,maxpool(2),"
                             "conv(8,3,pad=1),relu,flatten,dense(3)"}) {
      SCOPED_TRACE(fmt::format("{} on {} thread(s)", spec, threads));
      const testing::ThreadsScope scope(threads);
      auto run = [&](Precision precision) {
        Generator gen(3);
        auto net = nn::build_model(nn::parse_model_spec(spec), {1, 8, 8}, gen);
        optim::SGD sgd(net->parameters(), {.lr = 0.05f, .momentum = 0.9f});
        Trainer trainer(*net, sgd,
                        {.epochs = 4, .batch_size = 16, .seed = 4, .precision = precision});
        const EpochStats last = trainer.fit(train, {{"test", &test}}).back();
        EXPECT_EQ(bp::precision(), Precision::fp32);
        return std::pair{last, weights_of(*net)};
      };
      const auto [fp32, fp32_weights] = run(Precision::fp32);
      const auto [bf16, bf16_weights] = run(Precision::bf16);
      EXPECT_GT(fp32.eval("test")->accuracy, 0.95);
      EXPECT_NEAR(bf16.eval("test")->accuracy, fp32.eval("test")->accuracy, 0.02);
      EXPECT_NEAR(bf16.train_loss, fp32.train_loss, 0.05 * fp32.train_loss + 0.01);
      if (bf16_native()) {
        EXPECT_NE(bf16_weights, fp32_weights);
      }
      ASSERT_EQ(bf16_weights.size(), fp32_weights.size());
      for (size_t i = 0; i < fp32_weights.size(); ++i)
        for (size_t j = 0; j < fp32_weights[i].size(); ++j)
          ASSERT_NEAR(bf16_weights[i][j], fp32_weights[i][j], 0.05) << "parameter " << i;
    }
}

TEST(Evaluate, MetricsOfAFixedModel) {
  // y = x (identity weights): the prediction is the argmax of the features.
  nn::Sequential net(
      {std::make_shared<nn::Linear>(nn::LinearOptions{.in = 3, .out = 3, .bias = false})});
  auto& lin = dynamic_cast<nn::Linear&>(net[0]);
  lin.weight().copy_(Tensor::from_data({1, 0, 0, 0, 1, 0, 0, 0, 1}, {3, 3}));
  data::Dataset d;
  d.num_classes = 3;
  d.feature_shape = {3};
  // predictions:      0  0  1  1  2  0  2
  // labels:           0  1  1  1  2  2  2
  d.features =
      Tensor::from_data({1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1}, {7, 3});
  d.labels = {0, 1, 1, 1, 2, 2, 2};
  for (int64_t batch : {1, 2, 3, 512}) {
    Metrics m = evaluate(net, d, Loss::cross_entropy, batch);
    EXPECT_EQ(m.samples, 7);
    const std::vector<std::vector<int64_t>> confusion{{1, 0, 0}, {1, 2, 0}, {1, 0, 2}};
    EXPECT_EQ(m.confusion, confusion);
    EXPECT_TRUE(m.classification);
    EXPECT_EQ(m.support, (std::vector<int64_t>{1, 3, 3}));
    int64_t total = 0;
    for (const auto& row : m.confusion)
      for (int64_t v : row) total += v;
    EXPECT_EQ(total, 7);
    EXPECT_DOUBLE_EQ(m.accuracy, 5.0 / 7.0);
    // precision: of those predicted c, how many are c; recall: of those that are c, how many found.
    EXPECT_DOUBLE_EQ(m.precision[0], 1.0 / 3.0);
    EXPECT_DOUBLE_EQ(m.precision[1], 1.0);
    EXPECT_DOUBLE_EQ(m.precision[2], 1.0);
    EXPECT_DOUBLE_EQ(m.recall[0], 1.0);
    EXPECT_DOUBLE_EQ(m.recall[1], 2.0 / 3.0);
    EXPECT_DOUBLE_EQ(m.recall[2], 2.0 / 3.0);
    // Every row has logits {1, 0, 0} up to order: loss = log(e + 2) - 1 for the right class,
    // log(e + 2) for a wrong one.
    const double l = std::log(std::exp(1.0) + 2.0);
    EXPECT_NEAR(m.loss, (5 * (l - 1) + 2 * l) / 7, 1e-5);
  }
  // A class never predicted and never present has precision and recall 0, not NaN.
  d.num_classes = 4;
  net.add(std::make_shared<nn::Linear>(nn::LinearOptions{.in = 3, .out = 4, .bias = false}));
  dynamic_cast<nn::Linear&>(net[1]).weight().copy_(
      Tensor::from_data({1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0}, {4, 3}));
  Metrics m = evaluate(net, d, Loss::cross_entropy);
  EXPECT_EQ(m.precision[3], 0.0);
  EXPECT_EQ(m.recall[3], 0.0);
  EXPECT_EQ(evaluate(net, data::Dataset{}, Loss::cross_entropy).samples, 0);
}

TEST(Evaluate, ManyClassesKeepPerClassScoresButNoConfusionMatrix) {
  // Class c is feature c one-hot: an identity network predicts every sample right.
  const int64_t classes = train::kMaxConfusionClasses + 1;
  nn::Sequential net({std::make_shared<nn::Linear>(
      nn::LinearOptions{.in = classes, .out = classes, .bias = false})});
  Tensor eye = Tensor::zeros({classes, classes});
  for (int64_t c = 0; c < classes; ++c) eye.data()[c * classes + c] = 1;
  dynamic_cast<nn::Linear&>(net[0]).weight().copy_(eye);
  data::Dataset d;
  d.num_classes = classes;
  d.feature_shape = {classes};
  d.features = eye.clone();
  for (int64_t c = 0; c < classes; ++c) d.labels.push_back(c);
  Metrics m = evaluate(net, d, Loss::cross_entropy);
  EXPECT_TRUE(m.classification);
  EXPECT_TRUE(m.confusion.empty());  // it would be classes² counts
  ASSERT_EQ(m.precision.size(), static_cast<size_t>(classes));
  EXPECT_EQ(m.support, std::vector<int64_t>(static_cast<size_t>(classes), 1));
  EXPECT_DOUBLE_EQ(m.precision[classes - 1], 1.0);
  EXPECT_DOUBLE_EQ(m.recall[0], 1.0);
  EXPECT_DOUBLE_EQ(m.accuracy, 1.0);
}

TEST(Evaluate, ModelWithMoreOutputsThanClasses) {
  nn::Sequential net(
      {std::make_shared<nn::Linear>(nn::LinearOptions{.in = 2, .out = 3, .bias = false})});
  dynamic_cast<nn::Linear&>(net[0]).weight().copy_(Tensor::from_data({0, 0, 0, 0, 1, 1}, {3, 2}));
  data::Dataset d;
  d.num_classes = 3;
  d.feature_shape = {2};
  d.features = Tensor::ones({2, 2});
  d.labels = {0, 1};
  d.num_classes = 2;
  expect_error([&] { evaluate(net, d, Loss::cross_entropy); }, "outputs");
  EXPECT_TRUE(net.is_training());
}

TEST(Trainer, NonFiniteLossStopsWithAClearError) {
  data::Dataset train = blobs(20, 1, 5.0f);
  Generator gen(3);
  auto net = nn::build_model(nn::parse_model_spec("dense(16),relu,dense(3)"), {2}, gen);
  optim::SGD sgd(net->parameters(), {.lr = 1e30f});
  Trainer trainer(*net, sgd, {.epochs = 5, .batch_size = 4});
  try {
    trainer.fit(train, {});
    FAIL() << "expected the loss to become non-finite";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("loss"), std::string::npos) << msg;
    EXPECT_NE(msg.find("epoch 1"), std::string::npos) << msg;
    EXPECT_NE(msg.find("batch"), std::string::npos) << msg;
  }
}

TEST(Trainer, RejectsBadOptions) {
  auto net = mlp(1);
  optim::SGD sgd(net->parameters(), {});
  expect_error([&] { Trainer(*net, sgd, {.epochs = -1}); }, "epochs");
  expect_error([&] { Trainer(*net, sgd, {.batch_size = 0}); }, "batch size");
  expect_error([&] { Trainer(*net, sgd, {.start_epoch = -2}); }, "start epoch");
  expect_error([&] { Trainer(*net, sgd, {.eval_batch_size = 0}); }, "evaluation batch size");
  // Data that does not fit the model.
  data::Dataset wide = blobs(2, 1);
  wide.features = Tensor::ones({6, 5});
  wide.feature_shape = {5};
  expect_error([&] { Trainer(*net, sgd, {.epochs = 1}).fit(wide, {}); }, "");
}

// Records what the loop reports, and can stop it.
class Recorder : public Callback {
 public:
  void on_train_begin(Trainer&) override { events.push_back("begin"); }
  void on_epoch_begin(Trainer& t, int64_t epoch) override {
    lr_at_begin.push_back(t.optimizer().lr());
    events.push_back("epoch " + std::to_string(epoch));
  }
  void on_batch_end(Trainer&, int64_t batch, int64_t batches, double, int64_t samples) override {
    last_batch = batch;
    batches_per_epoch = batches;
    samples_done = samples;
  }
  void on_epoch_end(Trainer& t, const EpochStats& s) override {
    lrs.push_back(s.lr);
    if (s.epoch == stop_after) t.request_stop();
  }
  void on_train_end(Trainer&) override { events.push_back("end"); }

  std::vector<std::string> events;
  std::vector<float> lr_at_begin;
  std::vector<double> lrs;
  int64_t last_batch = 0, batches_per_epoch = 0, samples_done = 0, stop_after = -1;
};

TEST(Callbacks, HooksRunInOrderAndCanStop) {
  data::Dataset train = blobs(10, 1);  // 30 samples, batches of 8: 4 per epoch
  auto net = mlp(3);
  optim::SGD sgd(net->parameters(), {.lr = 0.01f});
  Trainer trainer(*net, sgd, {.epochs = 5, .batch_size = 8});
  auto rec = std::make_shared<Recorder>();
  rec->stop_after = 2;
  trainer.add_callback(rec);
  EXPECT_EQ(trainer.fit(train, {}).size(), 2u);
  EXPECT_EQ(rec->events, (std::vector<std::string>{"begin", "epoch 1", "epoch 2", "end"}));
  EXPECT_EQ(rec->batches_per_epoch, 4);
  EXPECT_EQ(rec->last_batch, 4);
  EXPECT_EQ(rec->samples_done, 30);
}

TEST(Callbacks, LearningRateScheduleSetsTheRateEachEpoch) {
  data::Dataset train = blobs(10, 1);
  auto net = mlp(3);
  optim::SGD sgd(net->parameters(), {.lr = 1.0f});
  Trainer trainer(*net, sgd, {.epochs = 4, .batch_size = 8});
  trainer.add_callback(std::make_shared<LearningRateSchedule>(
      [](int64_t epoch) { return 0.1f / static_cast<float>(epoch); }));
  auto rec = std::make_shared<Recorder>();
  trainer.add_callback(rec);
  auto stats = trainer.fit(train, {});
  ASSERT_EQ(stats.size(), 4u);
  for (int64_t e = 1; e <= 4; ++e) {
    const float expected = 0.1f / static_cast<float>(e);
    EXPECT_FLOAT_EQ(static_cast<float>(stats[static_cast<size_t>(e - 1)].lr), expected);
    EXPECT_FLOAT_EQ(rec->lr_at_begin[static_cast<size_t>(e - 1)], expected);
  }
  EXPECT_FLOAT_EQ(sgd.lr(), 0.025f);
}

TEST(Callbacks, EarlyStoppingStopsAfterPatienceEpochsWithoutImprovement) {
  // Validation labels are the training labels shifted by one class: the better the model fits
  // the training set, the worse its validation loss.
  data::Dataset train = blobs(30, 1, 0.3f);
  data::Dataset val = train;
  for (int64_t& y : val.labels) y = (y + 1) % 3;
  auto net = mlp(3);
  optim::SGD sgd(net->parameters(), {.lr = 0.1f, .momentum = 0.9f});
  Trainer trainer(*net, sgd, {.epochs = 30, .batch_size = 10});
  auto early = std::make_shared<EarlyStopping>("val", 3);
  trainer.add_callback(early);
  auto stats = trainer.fit(train, {{"val", &val}});
  ASSERT_LT(stats.size(), 30u);
  EXPECT_GE(early->best_epoch(), 1);
  EXPECT_EQ(static_cast<int64_t>(stats.size()), early->best_epoch() + 3);
  // The best epoch really has the lowest validation loss, and nothing after it beat it.
  const double best = stats[static_cast<size_t>(early->best_epoch() - 1)].eval("val")->loss;
  for (const auto& s : stats) EXPECT_GE(s.eval("val")->loss, best);

  expect_error([] { EarlyStopping("val", 0); }, "patience");
  expect_error([] { EarlyStopping("val", 2, -1.0); }, "min_delta");
  auto wrong = std::make_shared<EarlyStopping>("validation", 2);
  Trainer t2(*net, sgd, {.epochs = 1, .batch_size = 10});
  t2.add_callback(wrong);
  expect_error([&] { t2.fit(train, {{"val", &val}}); }, "no evaluation named 'validation'");
}

TEST(Callbacks, JsonLoggerWritesOneObjectPerEpoch) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("bp_log_" + std::to_string(::getpid()) + ".jsonl"))
          .string();
  data::Dataset train = blobs(10, 1), test = blobs(5, 2);
  auto net = mlp(3);
  optim::SGD sgd(net->parameters(), {.lr = 0.05f});
  {
    Trainer trainer(*net, sgd, {.epochs = 3, .batch_size = 8});
    trainer.add_callback(std::make_shared<JsonLogger>(path));
    trainer.fit(train, {{"test", &test}});
  }
  {
    Trainer trainer(*net, sgd, {.epochs = 4, .batch_size = 8, .start_epoch = 3});
    trainer.add_callback(std::make_shared<JsonLogger>(path, /*append=*/true));
    trainer.fit(train, {{"test", &test}});
  }
  std::ifstream in(path);
  std::string line;
  int64_t epoch = 0;
  while (std::getline(in, line)) {
    ++epoch;
    nlohmann::json j = nlohmann::json::parse(line);
    ASSERT_TRUE(j.is_object()) << line;
    EXPECT_EQ(j["epoch"], epoch);
    for (const char* key : {"train_loss", "train_accuracy", "test_loss", "test_accuracy", "seconds",
                            "samples_per_sec", "lr"}) {
      ASSERT_TRUE(j.contains(key)) << key << " missing in " << line;
      EXPECT_TRUE(j[key].is_number()) << key;
    }
    EXPECT_EQ(j["lr"], 0.05);  // the shortest form of the float, not 0.05000000074505806
    EXPECT_GT(j["train_loss"].get<double>(), 0.0);
    EXPECT_GE(j["test_accuracy"].get<double>(), 0.0);
    EXPECT_LE(j["test_accuracy"].get<double>(), 1.0);
  }
  EXPECT_EQ(epoch, 4);
  std::filesystem::remove(path);
  expect_error([] { JsonLogger("/nonexistent_dir_bp/log.jsonl"); },
               "JSON log: cannot write '/nonexistent_dir_bp/log.jsonl'");
}

TEST(Callbacks, CheckpointCallbackSeesEveryEpoch) {
  data::Dataset train = blobs(5, 1);
  auto net = mlp(3);
  optim::SGD sgd(net->parameters(), {.lr = 0.05f});
  std::vector<int64_t> saved;
  Trainer trainer(*net, sgd, {.epochs = 3, .batch_size = 8});
  trainer.add_callback(
      std::make_shared<CheckpointCallback>([&](int64_t epochs) { saved.push_back(epochs); }));
  trainer.fit(train, {});
  EXPECT_EQ(saved, (std::vector<int64_t>{1, 2, 3}));
}

TEST(BatchLoss, ChecksTheDataKind) {
  data::Batch classification;
  classification.labels = {0, 1};
  classification.indices = {0, 1};
  classification.features = Tensor::zeros({2, 2});
  Tensor out = Tensor::zeros({2, 2});
  EXPECT_NEAR(batch_loss(Loss::cross_entropy, out, classification).item(), std::log(2.0f), 1e-6);
  expect_error([&] { batch_loss(Loss::mse, out, classification); }, "regression losses");
  expect_error(
      [&] {
        batch_loss(Loss::cross_entropy, Tensor::zeros({2, 2, 1}), classification);
      },
      "end the model with a dense layer");
  data::Batch regression;
  regression.indices = {0, 1};
  regression.targets = Tensor::ones({2, 1});
  expect_error([&] { batch_loss(Loss::cross_entropy, out, regression); }, "class labels");
  expect_error([&] { batch_loss(Loss::mse, out, regression); }, "do not match targets");
  EXPECT_FLOAT_EQ(batch_loss(Loss::mse, Tensor::zeros({2, 1}), regression).item(), 1.0f);
  EXPECT_FLOAT_EQ(batch_loss(Loss::l1, Tensor::full({2, 1}, 3.0f), regression).item(), 2.0f);
}

}  // namespace
}  // namespace bp::train
