// DataLoader: batch counts, the last partial batch, per-(seed, epoch) shuffling, coverage.
#include <algorithm>
#include <numeric>

#include "data_test_util.hpp"
#include "test_util.hpp"

namespace bp::testing {
namespace {

// n samples whose single feature is the sample index; label = index % 4.
data::Dataset indexed(int64_t n) {
  data::Dataset ds;
  std::vector<float> x(static_cast<size_t>(n));
  std::iota(x.begin(), x.end(), 0.0f);
  ds.features = Tensor::from_data(x, {n, 1, 1});
  ds.feature_shape = {1, 1};
  for (int64_t i = 0; i < n; ++i) ds.labels.push_back(i % 4);
  ds.num_classes = 4;
  return ds;
}

std::vector<int64_t> epoch_order(data::DataLoader& loader, int64_t epoch) {
  std::vector<int64_t> seen;
  data::Batch batch;
  for (loader.start_epoch(epoch); loader.next(batch);)
    for (int64_t i = 0; i < batch.size(); ++i)
      seen.push_back(static_cast<int64_t>(batch.features.data()[i]));
  return seen;
}

TEST(LoaderTest, BatchCountAndLastPartialBatch) {
  data::DataLoader loader(indexed(10), {.batch_size = 4});
  EXPECT_EQ(loader.num_batches(), 3);
  data::Batch batch;
  std::vector<int64_t> sizes;
  while (loader.next(batch)) {
    sizes.push_back(batch.size());
    EXPECT_EQ(batch.features.shape(), (Shape{batch.size(), 1, 1}));
    ASSERT_EQ(static_cast<int64_t>(batch.labels.size()), batch.size());
    for (int64_t i = 0; i < batch.size(); ++i)
      EXPECT_EQ(batch.labels[static_cast<size_t>(i)],
                static_cast<int64_t>(batch.features.data()[i]) % 4);
  }
  EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4, 2}));
  EXPECT_FALSE(loader.next(batch));  // stays at the end until the next epoch starts

  data::DataLoader dropping(indexed(10), {.batch_size = 4, .drop_last = true});
  EXPECT_EQ(dropping.num_batches(), 2);
  EXPECT_EQ(epoch_order(dropping, 0).size(), 8u);
  data::DataLoader exact(indexed(8), {.batch_size = 4, .drop_last = true});
  EXPECT_EQ(exact.num_batches(), 2);
  data::DataLoader big(indexed(3), {.batch_size = 100});
  EXPECT_EQ(big.num_batches(), 1);
  EXPECT_EQ(epoch_order(big, 0), (std::vector<int64_t>{0, 1, 2}));
}

TEST(LoaderTest, EverySampleExactlyOncePerEpoch) {
  data::DataLoader loader(indexed(37), {.batch_size = 5, .shuffle = true, .seed = 3});
  std::vector<int64_t> all(37);
  std::iota(all.begin(), all.end(), 0);
  for (int64_t epoch = 0; epoch < 4; ++epoch) {
    std::vector<int64_t> seen = epoch_order(loader, epoch);
    EXPECT_NE(seen, all) << "epoch " << epoch << " was not shuffled";
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(seen, all);
  }
}

TEST(LoaderTest, ShuffleDependsOnlyOnSeedAndEpoch) {
  const data::LoaderOptions opt{.batch_size = 8, .shuffle = true, .seed = 11};
  data::DataLoader a(indexed(64), opt);
  data::DataLoader b(indexed(64), opt);
  std::vector<int64_t> a0 = epoch_order(a, 0), a1 = epoch_order(a, 1), a2 = epoch_order(a, 2);
  // A "resumed" loader that jumps straight to epoch 2 sees epoch 2's order.
  EXPECT_EQ(epoch_order(b, 2), a2);
  EXPECT_EQ(epoch_order(b, 0), a0);
  EXPECT_NE(a0, a1);
  EXPECT_NE(a1, a2);
  data::DataLoader other_seed(indexed(64), {.batch_size = 8, .shuffle = true, .seed = 12});
  EXPECT_NE(epoch_order(other_seed, 0), a0);
  // Without shuffle every epoch is in order.
  data::DataLoader plain(indexed(5), {.batch_size = 2});
  EXPECT_EQ(epoch_order(plain, 3), (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

TEST(LoaderTest, ReusesBuffersOnlyWhenUnshared) {
  data::DataLoader loader(indexed(8), {.batch_size = 4});
  data::Batch batch;
  ASSERT_TRUE(loader.next(batch));
  const float* first = batch.features.data();
  const uint64_t version = batch.features.version();
  ASSERT_TRUE(loader.next(batch));
  EXPECT_EQ(batch.features.data(), first);  // same buffer, new contents
  EXPECT_EQ(batch.features.data()[0], 4.0f);
  // ... and a new version, so that nothing derived from the old contents (a bf16 copy) is reused.
  EXPECT_GT(batch.features.version(), version);
  loader.start_epoch(1);
  ASSERT_TRUE(loader.next(batch));
  Tensor kept = batch.features;  // a second handle: the loader must not overwrite it
  ASSERT_TRUE(loader.next(batch));
  EXPECT_EQ(kept.data()[0], 0.0f);
  EXPECT_EQ(batch.features.data()[0], 4.0f);
}

TEST(LoaderTest, RegressionTargets) {
  data::Dataset ds;
  ds.task = data::Task::regression;
  ds.features = Tensor::from_data({0, 1, 2}, {3, 1});
  ds.feature_shape = {1};
  ds.targets = Tensor::from_data({0, 10, 1, 11, 2, 12}, {3, 2});
  data::DataLoader loader(ds, {.batch_size = 2, .shuffle = true, .seed = 5});
  data::Batch batch;
  int64_t total = 0;
  while (loader.next(batch)) {
    EXPECT_EQ(batch.targets.shape(), (Shape{batch.size(), 2}));
    EXPECT_TRUE(batch.labels.empty());
    for (int64_t i = 0; i < batch.size(); ++i) {
      EXPECT_EQ(batch.targets.data()[2 * i], batch.features.data()[i]);
      EXPECT_EQ(batch.targets.data()[2 * i + 1], batch.features.data()[i] + 10);
    }
    total += batch.size();
  }
  EXPECT_EQ(total, 3);
  // Reused targets get a new version with their new rows, as features do.
  data::DataLoader pairs(ds, {.batch_size = 1});
  ASSERT_TRUE(pairs.next(batch));
  const float* first = batch.targets.data();
  const uint64_t version = batch.targets.version();
  ASSERT_TRUE(pairs.next(batch));
  EXPECT_EQ(batch.targets.data(), first);
  EXPECT_GT(batch.targets.version(), version);
}

TEST(LoaderTest, ValidatesArguments) {
  expect_error([] { data::DataLoader(indexed(4), {.batch_size = 0}); },
               "batch_size must be > 0, got 0");
  expect_error([] { data::DataLoader(indexed(0), {.batch_size = 2}); }, "the dataset is empty");
  data::Dataset broken = indexed(4);
  broken.labels.pop_back();
  expect_error([&] { data::DataLoader(broken, {}); }, "3 labels for 4 samples");
  data::DataLoader loader(indexed(4), {});
  expect_error([&] { loader.start_epoch(-1); }, "epoch must be >= 0");
}

}  // namespace
}  // namespace bp::testing
