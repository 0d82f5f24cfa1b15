// DataLoader image augmentation: horizontal flip, zero-padded random crop, determinism from
// (seed, epoch, batch), and the checks on when it may be enabled.
#include <algorithm>
#include <set>
#include <thread>

#include "test_util.hpp"

namespace bp::testing {
namespace {

// n images (c, h, w) whose values encode (sample, channel, row, column) uniquely and are > 0.
data::Dataset images(int64_t n, int64_t c, int64_t h, int64_t w) {
  data::Dataset ds;
  ds.features = Tensor::empty({n, c, h, w});
  for (int64_t s = 0; s < n; ++s)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x)
          ds.features.at({s, ch, y, x}) = static_cast<float>(1 + s * 1000 + ch * 100 + y * 10 + x);
  ds.feature_shape = {c, h, w};
  for (int64_t s = 0; s < n; ++s) ds.labels.push_back(s % 2);
  ds.num_classes = 2;
  return ds;
}

int64_t sample_of(float v) {
  return static_cast<int64_t>(v - 1) / 1000;
}

std::vector<std::vector<float>> epoch_batches(data::DataLoader& loader, int64_t epoch) {
  std::vector<std::vector<float>> out;
  data::Batch batch;
  for (loader.start_epoch(epoch); loader.next(batch);) out.push_back(batch.features.to_vector());
  return out;
}

TEST(AugmentTest, FlipMirrorsRowsOfAKnownImage) {
  data::Dataset ds = images(64, 2, 2, 3);
  data::DataLoader loader(ds, {.batch_size = 64, .random_flip = true});
  data::Batch batch;
  ASSERT_TRUE(loader.next(batch));
  int64_t flipped = 0;
  for (int64_t s = 0; s < 64; ++s) {
    const bool mirror = batch.features.at({s, 0, 0, 0}) != ds.features.at({s, 0, 0, 0});
    flipped += mirror;
    for (int64_t ch = 0; ch < 2; ++ch)
      for (int64_t y = 0; y < 2; ++y)
        for (int64_t x = 0; x < 3; ++x)
          EXPECT_EQ(batch.features.at({s, ch, y, x}),
                    ds.features.at({s, ch, y, mirror ? 2 - x : x}));
  }
  // About half of them, and never the dataset itself.
  EXPECT_GT(flipped, 16);
  EXPECT_LT(flipped, 48);
  EXPECT_EQ(ds.features.at({0, 0, 0, 2}), 3.0f);
  const auto& source = dynamic_cast<const data::DatasetSource&>(loader.source());
  EXPECT_EQ(source.dataset().features.at({0, 0, 0, 0}), 1.0f);
}

TEST(AugmentTest, CropKeepsTheShapeAndShiftsWithZeroPadding) {
  const int64_t c = 2, h = 5, w = 4, pad = 2;
  data::Dataset ds = images(40, c, h, w);
  data::DataLoader loader(ds, {.batch_size = 16, .random_crop_padding = pad});
  data::Batch batch;
  std::set<std::pair<int64_t, int64_t>> shifts;
  while (loader.next(batch)) {
    ASSERT_EQ(batch.features.shape(), (Shape{batch.size(), c, h, w}));
    for (int64_t i = 0; i < batch.size(); ++i) {
      const int64_t s = batch.indices[static_cast<size_t>(i)];
      // Find the shift from any non-zero value, then check every position against it.
      int64_t dy = 99, dx = 99;
      for (int64_t y = 0; y < h && dy == 99; ++y)
        for (int64_t x = 0; x < w && dy == 99; ++x) {
          float v = batch.features.at({i, 0, y, x});
          if (v != 0.0f) {
            EXPECT_EQ(sample_of(v), s);
            const auto local = static_cast<int64_t>(v - 1) % 100;
            dy = local / 10 - y;
            dx = local % 10 - x;
          }
        }
      ASSERT_NE(dy, 99) << "a crop of a 5x4 image with padding 2 always keeps some pixels";
      EXPECT_LE(std::abs(dy), pad);
      EXPECT_LE(std::abs(dx), pad);
      shifts.insert({dy, dx});
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t y = 0; y < h; ++y)
          for (int64_t x = 0; x < w; ++x) {
            const int64_t sy = y + dy, sx = x + dx;
            const float expected =
                sy >= 0 && sy < h && sx >= 0 && sx < w ? ds.features.at({s, ch, sy, sx}) : 0.0f;
            EXPECT_EQ(batch.features.at({i, ch, y, x}), expected);
          }
    }
  }
  EXPECT_GT(shifts.size(), 5u);  // the windows really vary
}

TEST(AugmentTest, EverySampleStillPresentOncePerEpoch) {
  data::Dataset ds = images(30, 1, 4, 4);
  data::DataLoader loader(
      ds,
      {.batch_size = 7, .shuffle = true, .seed = 2, .random_crop_padding = 1, .random_flip = true});
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    std::vector<int64_t> seen;
    data::Batch batch;
    for (loader.start_epoch(epoch); loader.next(batch);)
      for (int64_t i = 0; i < batch.size(); ++i) {
        seen.push_back(batch.indices[static_cast<size_t>(i)]);
        // The label still belongs to the sample, and the image content too.
        EXPECT_EQ(batch.labels[static_cast<size_t>(i)], batch.indices[static_cast<size_t>(i)] % 2);
        for (int64_t j = 0; j < 16; ++j) {
          float v = batch.features.data()[i * 16 + j];
          if (v != 0.0f) {
            EXPECT_EQ(sample_of(v), batch.indices[static_cast<size_t>(i)]);
          }
        }
      }
    std::sort(seen.begin(), seen.end());
    for (int64_t i = 0; i < 30; ++i) EXPECT_EQ(seen[static_cast<size_t>(i)], i);
  }
}

TEST(AugmentTest, DeterministicFromSeedEpochAndBatch) {
  data::Dataset ds = images(20, 1, 6, 6);
  data::LoaderOptions opts{
      .batch_size = 6, .shuffle = true, .seed = 5, .random_crop_padding = 2, .random_flip = true};
  data::DataLoader a(ds, opts), b(ds, opts);
  // Epoch 3 straight away equals epoch 3 after epochs 0..2 (a resumed run).
  for (int64_t e = 0; e < 3; ++e) epoch_batches(a, e);
  EXPECT_EQ(epoch_batches(a, 3), epoch_batches(b, 3));
  EXPECT_EQ(epoch_batches(a, 1), epoch_batches(b, 1));
  EXPECT_NE(epoch_batches(a, 1), epoch_batches(b, 2));
  opts.seed = 6;
  opts.shuffle = false;
  data::DataLoader c(ds, opts);
  opts.seed = 7;
  data::DataLoader d(ds, opts);
  EXPECT_NE(epoch_batches(c, 0), epoch_batches(d, 0));  // same order, other augmentation
}

// Features filled later, in pieces and from several threads, are the ones next() gives, augmented
// and decoded alike (the float dataset and its byte twin), for every rank's shard.
TEST(AugmentTest, FeaturesFilledInPiecesFromThreadsMatchNext) {
  data::Dataset floats = images(45, 2, 4, 3);
  data::Dataset bytes = floats;
  std::vector<uint8_t> raw(static_cast<size_t>(floats.features.numel()));
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<uint8_t>(i * 7 % 251);
  bytes.features = Tensor();
  bytes.bytes = std::make_shared<const std::vector<uint8_t>>(raw);
  bytes.byte_scale = {0.5f};
  bytes.byte_offset = {-1.0f};
  for (const data::Dataset* ds : {&floats, &bytes})
    for (int64_t shards : {1, 2}) {
      for (int64_t shard = 0; shard < shards; ++shard) {
        data::LoaderOptions opts{.batch_size = 16,
                                 .seed = 3,
                                 .random_crop_padding = 1,
                                 .random_flip = true,
                                 .shard_count = shards,
                                 .shard_index = shard};
        data::DataLoader whole(*ds, opts), pieces(*ds, opts);
        whole.start_epoch(2);
        pieces.start_epoch(2);
        data::Batch a, b;
        int64_t batches = 0;
        while (whole.next(a)) {
          ASSERT_TRUE(pieces.next_without_features(b));
          EXPECT_EQ(b.indices, a.indices);
          EXPECT_EQ(b.labels, a.labels);
          ASSERT_EQ(b.features.shape(), a.features.shape());
          const int64_t n = b.size(), cut = n / 3;
          std::thread other([&] { pieces.fill_features(b, cut, n); });
          pieces.fill_features(b, 0, cut);
          other.join();
          EXPECT_EQ(b.features.to_vector(), a.features.to_vector()) << "batch " << batches;
          ++batches;
        }
        EXPECT_FALSE(pieces.next_without_features(b));
        EXPECT_EQ(batches, 3);
      }
    }
  data::DataLoader loader(floats, {.batch_size = 16});
  data::Batch batch;
  ASSERT_TRUE(loader.next_without_features(batch));
  expect_error([&] { loader.fill_features(batch, 4, 17); },
               "DataLoader::fill_features: rows [4, 17) are not within the batch of 16");
  expect_error([&] { loader.fill_features(batch, 5, 4); }, "rows [5, 4)");
}

TEST(AugmentTest, OnlyForImagesAndNonNegativePadding) {
  data::Dataset flat;
  flat.features = Tensor::zeros({4, 3});
  flat.feature_shape = {3};
  flat.labels = {0, 1, 0, 1};
  flat.num_classes = 2;
  expect_error([&] { data::DataLoader l(flat, {.random_flip = true}); },
               "DataLoader: random crop and flip need image samples (C, H, W), got samples of "
               "shape [3]");
  expect_error([&] { data::DataLoader l(flat, {.random_crop_padding = 2}); },
               "need image samples (C, H, W)");
  expect_error([&] { data::DataLoader l(images(2, 1, 2, 2), {.random_crop_padding = -1}); },
               "DataLoader: random_crop_padding must be >= 0, got -1");
  data::DataLoader plain(flat, {});  // augmentation off: any shape is fine
  EXPECT_EQ(plain.num_batches(), 1);
}

}  // namespace
}  // namespace bp::testing
