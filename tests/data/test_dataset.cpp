// Dataset: validation, subsets, seeded splits and the normaliser.
#include <cmath>
#include <numeric>
#include <set>

#include "data_test_util.hpp"
#include "test_util.hpp"

namespace bp::testing {
namespace {

// n samples of 2 features (i, 10 * i) with label i % 3.
data::Dataset counting_dataset(int64_t n) {
  data::Dataset ds;
  std::vector<float> x;
  for (int64_t i = 0; i < n; ++i) {
    x.push_back(static_cast<float>(i));
    x.push_back(static_cast<float>(10 * i));
    ds.labels.push_back(i % 3);
  }
  ds.features = Tensor::from_data(x, {n, 2});
  ds.feature_shape = {2};
  ds.num_classes = 3;
  return ds;
}

TEST(DataSetTest, ValidateCatchesInconsistencies) {
  data::Dataset ds = counting_dataset(4);
  ds.validate();
  ds.labels[2] = 3;
  expect_error([&] { ds.validate(); }, "label 3 of sample 2 is outside [0, 3)");
  ds = counting_dataset(4);
  ds.labels.pop_back();
  expect_error([&] { ds.validate(); }, "3 labels for 4 samples");
  ds = counting_dataset(4);
  ds.feature_shape = {3};
  expect_error([&] { ds.validate(); }, "feature_shape [3] does not match");
  ds = counting_dataset(4);
  ds.label_names = {"a"};
  expect_error([&] { ds.validate(); }, "1 label names for 3 classes");
  expect_error([] { data::Dataset{}.validate(); }, "features are undefined");
}

TEST(DataSplitTest, PartsAreDisjointCompleteAndSized) {
  data::Dataset ds = counting_dataset(101);
  const std::vector<double> fractions = {0.8, 0.1, 0.1};
  std::vector<data::Dataset> parts = data::split(ds, fractions, 42);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].size(), 81);  // round(80.8)
  EXPECT_EQ(parts[1].size(), 10);  // round(90.9) - 81
  EXPECT_EQ(parts[2].size(), 10);
  std::multiset<float> seen;
  for (const data::Dataset& p : parts) {
    p.validate();
    for (int64_t i = 0; i < p.size(); ++i) {
      const float v = p.features.data()[2 * i];
      seen.insert(v);
      EXPECT_EQ(p.features.data()[2 * i + 1], 10 * v);  // rows stay whole
      EXPECT_EQ(p.labels[static_cast<size_t>(i)], static_cast<int64_t>(v) % 3);
    }
  }
  std::multiset<float> all;
  for (int i = 0; i < 101; ++i) all.insert(static_cast<float>(i));
  EXPECT_EQ(seen, all);
}

TEST(DataSplitTest, DeterministicBySeed) {
  data::Dataset ds = counting_dataset(50);
  const std::vector<double> fractions = {0.5, 0.5};
  auto a = data::split(ds, fractions, 7);
  auto b = data::split(ds, fractions, 7);
  auto c = data::split(ds, fractions, 8);
  EXPECT_EQ(a[0].features.to_vector(), b[0].features.to_vector());
  EXPECT_EQ(a[1].labels, b[1].labels);
  EXPECT_NE(a[0].features.to_vector(), c[0].features.to_vector());
}

TEST(DataSplitTest, RegressionAndErrors) {
  data::Dataset ds = counting_dataset(10);
  ds.task = data::Task::regression;
  ds.labels.clear();
  std::vector<float> t(10);
  std::iota(t.begin(), t.end(), 0.0f);
  ds.targets = Tensor::from_data(t, {10, 1});
  const std::vector<double> halves = {0.5, 0.5};
  auto parts = data::split(ds, halves, 1);
  for (const auto& p : parts)
    for (int64_t i = 0; i < p.size(); ++i) EXPECT_EQ(p.targets.data()[i], p.features.data()[2 * i]);
  const std::vector<double> bad = {0.5, 0.6};
  expect_error([&] { data::split(ds, bad, 1); }, "fractions must sum to 1");
  const std::vector<double> negative = {1.5, -0.5};
  expect_error([&] { data::split(ds, negative, 1); }, "each fraction must be in [0, 1]");
  const std::vector<int64_t> idx = {0, 10};
  expect_error([&] { data::subset(ds, idx); }, "index 10 is outside [0, 10)");
}

TEST(DataNormalizerTest, MinMaxFromTrainOnly) {
  data::Dataset train = counting_dataset(5);  // features (0..4, 0..40)
  auto norm = data::Normalizer::fit(train, data::NormKind::min_max);
  EXPECT_EQ(norm.offset(), (std::vector<float>{0, 0}));
  EXPECT_EQ(norm.scale(), (std::vector<float>{4, 40}));
  Tensor y = norm.transform(train.features);
  EXPECT_EQ(y.to_vector(),
            (std::vector<float>{0, 0, 0.25f, 0.25f, 0.5f, 0.5f, 0.75f, 0.75f, 1, 1}));
  // Other sets use the train statistics, so they may leave [0, 1].
  data::Dataset test = counting_dataset(9);
  norm.apply(test);
  EXPECT_FLOAT_EQ(test.features.data()[16], 2.0f);
  // The input tensor is untouched.
  EXPECT_EQ(train.features.data()[2], 1.0f);
}

TEST(DataNormalizerTest, StandardizeAndStdFloor) {
  data::Dataset ds;
  // Column 0: 1, 3 (mean 2, std 1); column 1: constant 5.
  ds.features = Tensor::from_data({1, 5, 3, 5}, {2, 2});
  ds.feature_shape = {2};
  ds.labels = {0, 0};
  ds.num_classes = 1;
  auto norm = data::Normalizer::fit(ds, data::NormKind::standardize);
  EXPECT_EQ(norm.kind(), data::NormKind::standardize);
  EXPECT_EQ(norm.offset(), (std::vector<float>{2, 5}));
  EXPECT_EQ(norm.scale(), (std::vector<float>{1, 1}));  // constant column: scale 1, not 0
  EXPECT_EQ(norm.transform(ds.features).to_vector(), (std::vector<float>{-1, 0, 1, 0}));
  // One statistic for all values.
  auto global = data::Normalizer::fit(ds, data::NormKind::standardize, false);
  ASSERT_EQ(global.offset().size(), 1u);
  EXPECT_FLOAT_EQ(global.offset()[0], 3.5f);
  EXPECT_FLOAT_EQ(global.scale()[0], std::sqrt(2.75f));
}

TEST(DataNormalizerTest, RoundTripsThroughPlainVectors) {
  data::Dataset ds = counting_dataset(6);
  auto norm = data::Normalizer::fit(ds, data::NormKind::standardize);
  auto again = data::Normalizer::from_stats(norm.kind(), norm.offset(), norm.scale());
  EXPECT_EQ(again.transform(ds.features).to_vector(), norm.transform(ds.features).to_vector());
  expect_error([] { data::Normalizer::from_stats(data::NormKind::min_max, {0.0f}, {0.0f}); },
               "scale 0 must be finite and > 0");
  expect_error([] { data::Normalizer::from_stats(data::NormKind::min_max, {0.0f}, {}); },
               "1 offsets but 0 scales");
  auto three = data::Normalizer::from_stats(data::NormKind::min_max, {0, 0, 0}, {1, 1, 1});
  expect_error([&] { three.transform(ds.features); }, "fitted on 3 values per sample");
  data::Dataset empty = counting_dataset(0);
  expect_error([&] { data::Normalizer::fit(empty, data::NormKind::min_max); }, "empty");
  auto none = data::Normalizer::fit(ds, data::NormKind::none);
  EXPECT_TRUE(none.offset().empty());
  EXPECT_EQ(none.transform(ds.features).to_vector(), ds.features.to_vector());
}

// n samples of 3 byte features (i, 2i, 255 - i), decoded as byte / 255, with label i % 2.
data::Dataset byte_dataset(int64_t n) {
  data::Dataset ds;
  auto bytes = std::make_shared<std::vector<uint8_t>>();
  for (int64_t i = 0; i < n; ++i) {
    bytes->push_back(static_cast<uint8_t>(i));
    bytes->push_back(static_cast<uint8_t>(2 * i));
    bytes->push_back(static_cast<uint8_t>(255 - i));
    ds.labels.push_back(i % 2);
  }
  ds.bytes = std::move(bytes);
  ds.byte_scale = {1.0f / 255.0f};
  ds.feature_shape = {3};
  ds.num_classes = 2;
  return ds;
}

// The same dataset with float features.
data::Dataset as_floats(const data::Dataset& ds) {
  data::Dataset f = ds;
  f.features = ds.float_features();
  f.bytes.reset();
  return f;
}

TEST(DataBytesTest, DecodesLikeFloats) {
  data::Dataset ds = byte_dataset(7);
  ds.validate();
  EXPECT_EQ(ds.size(), 7);
  Tensor x = ds.float_features();
  EXPECT_EQ(x.shape(), (Shape{7, 3}));
  EXPECT_FLOAT_EQ(x.at({4, 1}), 8.0f / 255.0f);
  EXPECT_FLOAT_EQ(x.at({4, 2}), 251.0f / 255.0f);
  std::vector<float> rows(6);
  const std::vector<int64_t> which = {5, 2};
  ds.copy_rows(which, rows.data());
  EXPECT_FLOAT_EQ(rows[0], 5.0f / 255.0f);
  EXPECT_FLOAT_EQ(rows[4], 4.0f / 255.0f);
  const std::vector<int64_t> bad = {7};
  expect_error([&] { ds.copy_rows(bad, rows.data()); }, "sample 7 is outside [0, 7)");
}

TEST(DataBytesTest, ValidateCatchesInconsistencies) {
  data::Dataset ds = byte_dataset(3);
  ds.features = Tensor::zeros({3, 3});
  expect_error([&] { ds.validate(); }, "both as floats and as bytes");
  ds = byte_dataset(3);
  ds.feature_shape = {4};
  expect_error([&] { ds.validate(); }, "9 feature bytes are not a whole number of samples of 4");
  ds = byte_dataset(3);
  ds.byte_scale = {1, 1};
  expect_error([&] { ds.validate(); }, "needs 1 or 3 scales");
  ds = byte_dataset(3);
  ds.byte_offset = {std::nanf("")};
  expect_error([&] { ds.validate(); }, "not finite");
}

TEST(DataBytesTest, SubsetsSplitsAndBatchesStayBytesAndMatchFloats) {
  data::Dataset ds = byte_dataset(20);
  data::Dataset f = as_floats(ds);
  const std::vector<double> fractions = {0.7, 0.3};
  auto parts = data::split(ds, fractions, 5);
  auto float_parts = data::split(f, fractions, 5);
  for (size_t p = 0; p < parts.size(); ++p) {
    EXPECT_TRUE(parts[p].bytes != nullptr);
    EXPECT_EQ(parts[p].labels, float_parts[p].labels);
    EXPECT_EQ(parts[p].float_features().to_vector(), float_parts[p].features.to_vector());
  }
  data::DataLoader a(ds, {.batch_size = 6, .shuffle = true, .seed = 3});
  data::DataLoader b(f, {.batch_size = 6, .shuffle = true, .seed = 3});
  data::Batch x, y;
  int64_t batches = 0;
  while (a.next(x)) {
    ASSERT_TRUE(b.next(y));
    EXPECT_EQ(x.features.shape(), y.features.shape());
    EXPECT_EQ(x.features.to_vector(), y.features.to_vector());
    EXPECT_EQ(x.labels, y.labels);
    ++batches;
  }
  EXPECT_FALSE(b.next(y));
  EXPECT_EQ(batches, 4);
}

TEST(DataBytesTest, NormalisationFoldsIntoTheDecoding) {
  for (bool per_feature : {true, false})
    for (auto kind : {data::NormKind::standardize, data::NormKind::min_max}) {
      data::Dataset ds = byte_dataset(9);
      data::Dataset f = as_floats(ds);
      auto norm = data::Normalizer::fit(ds, kind, per_feature);
      auto float_norm = data::Normalizer::fit(f, kind, per_feature);
      ASSERT_EQ(norm.offset().size(), float_norm.offset().size());
      for (size_t j = 0; j < norm.offset().size(); ++j) {
        EXPECT_FLOAT_EQ(norm.offset()[j], float_norm.offset()[j]);
        EXPECT_FLOAT_EQ(norm.scale()[j], float_norm.scale()[j]);
      }
      norm.apply(ds);
      float_norm.apply(f);
      EXPECT_TRUE(ds.bytes != nullptr);
      const std::vector<float> got = ds.float_features().to_vector();
      const std::vector<float> want = f.features.to_vector();
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5f) << i;
    }
  data::Dataset ds = byte_dataset(4);
  auto two = data::Normalizer::from_stats(data::NormKind::min_max, {0, 0}, {1, 1});
  expect_error([&] { two.apply(ds); }, "fitted on 2 values per sample, the dataset has 3");
}

}  // namespace
}  // namespace bp::testing
