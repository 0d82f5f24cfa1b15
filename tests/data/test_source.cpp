// Samples from a user's own source (data::SampleSource) through the DataLoader and the Trainer,
// against the same samples held in memory.
#include <set>

#include "backprop/spec.hpp"
#include "backprop/train.hpp"
#include "test_util.hpp"

namespace bp::data {
namespace {

using bp::testing::expect_error;

// Sample i: features (i, -i, i/2), class i % 3, computed when asked.
class Counting : public SampleSource {
 public:
  explicit Counting(int64_t n, int64_t bad_label_at = -1) : n_(n), bad_(bad_label_at) {}
  int64_t size() const override { return n_; }
  Shape feature_shape() const override { return {3}; }
  int64_t num_classes() const override { return 3; }
  void features(int64_t i, float* out) const override {
    const auto v = static_cast<float>(i);
    out[0] = v;
    out[1] = -v;
    out[2] = v / 2;
  }
  int64_t label(int64_t i) const override { return i == bad_ ? 7 : i % 3; }

 private:
  int64_t n_, bad_;
};

// The same samples in memory.
Dataset counting_dataset(int64_t n) {
  Dataset d;
  d.features = Tensor::empty({n, 3});
  d.feature_shape = {3};
  d.num_classes = 3;
  Counting source(n);
  for (int64_t i = 0; i < n; ++i) {
    source.features(i, d.features.data() + 3 * i);
    d.labels.push_back(source.label(i));
  }
  return d;
}

TEST(SampleSource, ShuffledBatchesWithAShortLastOneMatchTheDatasetsBatches) {
  const LoaderOptions options{.batch_size = 4, .shuffle = true, .seed = 9};
  DataLoader streamed(std::make_shared<Counting>(10), options);
  DataLoader in_memory(counting_dataset(10), options);
  EXPECT_EQ(streamed.num_batches(), 3);
  EXPECT_EQ(streamed.size(), 10);
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    streamed.start_epoch(epoch);
    in_memory.start_epoch(epoch);
    std::vector<int64_t> sizes;
    std::set<int64_t> seen;
    Batch a, b;
    while (streamed.next(a)) {
      ASSERT_TRUE(in_memory.next(b));
      sizes.push_back(a.size());
      EXPECT_EQ(a.indices, b.indices);
      EXPECT_EQ(a.labels, b.labels);
      EXPECT_EQ(a.features.shape(), b.features.shape());
      EXPECT_EQ(a.features.to_vector(), b.features.to_vector());
      for (int64_t r = 0; r < a.size(); ++r) {
        const int64_t i = a.indices[static_cast<size_t>(r)];
        EXPECT_EQ(a.features.at({r, 1}), -static_cast<float>(i));
        EXPECT_EQ(a.labels[static_cast<size_t>(r)], i % 3);
        seen.insert(i);
      }
    }
    EXPECT_FALSE(in_memory.next(b));
    EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4, 2}));
    EXPECT_EQ(seen.size(), 10u);
  }
  // A shuffled order, not the identity.
  streamed.start_epoch(0);
  std::vector<int64_t> identity(10);
  for (int64_t i = 0; i < 10; ++i) identity[static_cast<size_t>(i)] = i;
  EXPECT_NE(streamed.order(), identity);
}

// Sample i: one feature i and the regression target (2i, 3i).
class Linear2 : public SampleSource {
 public:
  int64_t size() const override { return 5; }
  Shape feature_shape() const override { return {1}; }
  Task task() const override { return Task::regression; }
  int64_t target_size() const override { return 2; }
  void features(int64_t i, float* out) const override { out[0] = static_cast<float>(i); }
  void target(int64_t i, float* out) const override {
    out[0] = 2.0f * static_cast<float>(i);
    out[1] = 3.0f * static_cast<float>(i);
  }
};

TEST(SampleSource, RegressionTargetsComeFromTheSource) {
  DataLoader loader(std::make_shared<Linear2>(), {.batch_size = 3});
  Batch batch;
  ASSERT_TRUE(loader.next(batch));
  ASSERT_TRUE(loader.next(batch));
  EXPECT_EQ(batch.targets.shape(), (Shape{2, 2}));
  EXPECT_EQ(batch.targets.to_vector(), (std::vector<float>{6, 9, 8, 12}));
  EXPECT_TRUE(batch.labels.empty());
}

TEST(SampleSource, BadSourcesAreErrors) {
  expect_error([] { DataLoader(std::shared_ptr<const SampleSource>(), {}); }, "source is null");
  expect_error([] { DataLoader(std::make_shared<Counting>(0), {}); }, "the dataset is empty");
  DataLoader loader(std::make_shared<Counting>(6, 4), {.batch_size = 3});
  Batch batch;
  ASSERT_TRUE(loader.next(batch));
  expect_error([&] { loader.next(batch); }, "sample 4 has label 7, not a class in [0, 3)");
  // A classification source must say how many classes there are, and give labels.
  class NoClasses : public Counting {
   public:
    NoClasses() : Counting(3) {}
    int64_t num_classes() const override { return 0; }
  };
  expect_error([] { DataLoader(std::make_shared<NoClasses>(), {}); }, "num_classes() > 0");
  class NoLabels : public SampleSource {
    int64_t size() const override { return 2; }
    Shape feature_shape() const override { return {1}; }
    int64_t num_classes() const override { return 2; }
    void features(int64_t, float* out) const override { out[0] = 0; }
  };
  DataLoader unlabeled(std::make_shared<NoLabels>(), {});
  expect_error([&] { unlabeled.next(batch); }, "must define label()");
}

TEST(SampleSource, TheTrainerReachesTheSameLossAsWithTheDataInMemory) {
  auto train = [](bool streamed) {
    Generator gen(3);
    auto net = nn::build_model(nn::parse_model_spec("dense(8),tanh,dense(3)"), {3}, gen);
    optim::SGD sgd(net->parameters(), {.lr = 0.01f, .momentum = 0.9f});
    train::Trainer trainer(*net, sgd, {.epochs = 3, .batch_size = 8, .seed = 5});
    return streamed ? trainer.fit(std::make_shared<Counting>(40), {})
                    : trainer.fit(counting_dataset(40), {});
  };
  const auto a = train(true), b = train(false);
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 3u);
  for (size_t e = 0; e < a.size(); ++e) {
    EXPECT_EQ(a[e].train_loss, b[e].train_loss);
    EXPECT_EQ(a[e].train_accuracy, b[e].train_accuracy);
  }
  EXPECT_LT(a.back().train_loss, a.front().train_loss);
}

}  // namespace
}  // namespace bp::data
