// The single-process side of data-parallel training (the multi-rank side runs under mpirun, see
// tests/CMakeLists.txt): loader shards, the gradient reducer's weighting and bookkeeping, and a
// one-rank communicator that changes nothing.
#include "backprop/distributed.hpp"
#include "test_util.hpp"

namespace bp::testing {
namespace {

// n images (1, 4, 4) whose values name their sample; labels alternate.
data::Dataset images(int64_t n) {
  data::Dataset ds;
  ds.features = Tensor::empty({n, 1, 4, 4});
  for (int64_t s = 0; s < n; ++s)
    for (int64_t k = 0; k < 16; ++k)
      ds.features.data()[s * 16 + k] = static_cast<float>(s * 100 + k);
  ds.feature_shape = {1, 4, 4};
  for (int64_t s = 0; s < n; ++s) ds.labels.push_back(s % 2);
  ds.num_classes = 2;
  return ds;
}

// The shards of every batch, put back together, are the whole batch: same samples, same order,
// same augmented pixels, same labels; the short last batch is cut as evenly as it can be.
TEST(DistributedLoader, ShardsOfABatchMakeTheWholeBatch) {
  const data::Dataset ds = images(23);
  data::LoaderOptions whole{
      .batch_size = 8, .shuffle = true, .seed = 4, .random_crop_padding = 1, .random_flip = true};
  for (int64_t shards : {1, 2, 3, 5, 9}) {
    data::DataLoader full(ds, whole);
    std::vector<data::DataLoader> parts;
    for (int64_t i = 0; i < shards; ++i) {
      data::LoaderOptions o = whole;
      o.shard_count = shards;
      o.shard_index = i;
      parts.emplace_back(ds, o);
      EXPECT_EQ(parts.back().num_batches(), full.num_batches());
    }
    for (int64_t epoch : {0, 3}) {
      full.start_epoch(epoch);
      for (auto& p : parts) p.start_epoch(epoch);
      data::Batch b, part;
      while (full.next(b)) {
        std::vector<int64_t> indices, labels;
        std::vector<float> pixels;
        for (int64_t i = 0; i < shards; ++i) {
          ASSERT_TRUE(parts[static_cast<size_t>(i)].next(part));
          // Sizes differ by at most one: ⌊(i+1)m/n⌋ − ⌊im/n⌋.
          const int64_t m = b.size();
          EXPECT_EQ(part.size(), (i + 1) * m / shards - i * m / shards);
          indices.insert(indices.end(), part.indices.begin(), part.indices.end());
          labels.insert(labels.end(), part.labels.begin(), part.labels.end());
          if (part.size() > 0) {
            auto v = part.features.to_vector();
            pixels.insert(pixels.end(), v.begin(), v.end());
          }
        }
        EXPECT_EQ(indices, b.indices) << shards << " shards, epoch " << epoch;
        EXPECT_EQ(labels, b.labels);
        EXPECT_EQ(pixels, b.features.to_vector());
      }
      for (auto& p : parts) EXPECT_FALSE(p.next(part));
    }
  }
}

TEST(DistributedLoader, RejectsAShardThatDoesNotExist) {
  const data::Dataset ds = images(4);
  expect_error([&] { data::DataLoader(ds, {.batch_size = 2, .shard_count = 2, .shard_index = 2}); },
               "shard 2 of 2 does not exist");
  expect_error([&] { data::DataLoader(ds, {.batch_size = 2, .shard_count = 0}); },
               "does not exist");
  expect_error([&] { data::DataLoader(ds, {.batch_size = 2, .shard_index = -1}); },
               "does not exist");
}

TEST(Distributed, OneProcessIsAJobOfOneRank) {
  distributed::Communicator& world = distributed::Communicator::world();
  EXPECT_EQ(world.rank(), 0);
  EXPECT_EQ(world.size(), 1);
  EXPECT_EQ(distributed::Communicator::active(), nullptr);
  std::vector<double> v{1.5, -2.0};
  world.sum(v);
  EXPECT_EQ(v, (std::vector<double>{1.5, -2.0}));
  EXPECT_GE(distributed::threads_per_rank(world, 1), 1);
  EXPECT_LE(distributed::threads_per_rank(world, 1), 1);
  EXPECT_GE(distributed::threads_per_rank(world, 0), 1);
}

// With one rank the reducer only weighs: grad ← weight · grad, and a parameter that backward did
// not reach gets a zero gradient. Buckets smaller than a parameter hold one parameter each.
TEST(Distributed, ReducerWeighsGradientsAndFillsMissingOnes) {
  distributed::Communicator& world = distributed::Communicator::world();
  Tensor a = Tensor::from_data({1, 2, 3}, {3}, true);
  Tensor b = Tensor::from_data({4, 5}, {2}, true);
  Tensor unused = Tensor::ones({2, 2}, true);
  distributed::GradientReducer reducer(world, {a, b, unused}, 8);
  EXPECT_EQ(reducer.bucket_count(), 3);
  for (int pass = 0; pass < 2; ++pass) {
    a.zero_grad();
    b.zero_grad();
    reducer.begin(0.25);
    // sum(b) is added to each of the 3 elements: d/da = 2a, d/db = 3.
    sum(add(square(a), sum(b))).backward();
    reducer.finish();
    EXPECT_EQ(a.grad().to_vector(), (std::vector<float>{0.5f, 1.0f, 1.5f}));
    EXPECT_EQ(b.grad().to_vector(), (std::vector<float>{0.75f, 0.75f}));
    ASSERT_TRUE(unused.grad().defined());
    EXPECT_EQ(unused.grad().to_vector(), std::vector<float>(4, 0.0f));
  }
  // One bucket for all when it is large enough.
  EXPECT_EQ(distributed::GradientReducer(world, {a, b, unused}).bucket_count(), 1);
}

// Buckets hold the last layers first, and a bucket starts as soon as backward has finished its
// gradients (the engine reports them before it runs the layers below: see
// Engine.GradReadyHookReportsEachLeafOnceWhenFinal), so with one bucket per layer all three start
// before finish().
TEST(Distributed, ReducerStartsBucketsDuringBackward) {
  distributed::Communicator& world = distributed::Communicator::world();
  Generator gen(5);
  Model m =
      Model::create(nn::parse_model_spec("dense(32),relu,dense(32),relu,dense(4)"), {16}, gen);
  // Each layer's weight and bias fit 4 KiB; two layers do not.
  distributed::GradientReducer reducer(world, m.network->parameters(), 4400);
  EXPECT_EQ(reducer.bucket_count(), 3);
  Tensor x = Tensor::uniform({8, 16}, -1.0f, 1.0f, gen);
  reducer.begin(1.0);
  sum(square(m.network->forward(x))).backward();
  reducer.finish();
  EXPECT_EQ(reducer.buckets_started_early(), 3);
  // No backward pass (a rank without samples): everything starts in finish().
  reducer.begin(0.0);
  reducer.finish();
  EXPECT_EQ(reducer.buckets_started_early(), 0);
  for (const Tensor& p : m.network->parameters())
    EXPECT_EQ(p.grad().to_vector(), std::vector<float>(static_cast<size_t>(p.numel()), 0.0f));
}

TEST(Distributed, ReducerChecksItsUse) {
  distributed::Communicator& world = distributed::Communicator::world();
  Tensor a = Tensor::ones({2}, true);
  Tensor frozen = Tensor::ones({2});
  expect_error([&] { distributed::GradientReducer(world, {frozen}); },
               "does not require a gradient");
  expect_error([&] { distributed::GradientReducer(world, {a, a}); }, "listed twice");
  expect_error([&] { distributed::GradientReducer(world, {a}, 0); }, "bucket size");
  distributed::GradientReducer reducer(world, {a});
  expect_error([&] { reducer.finish(); }, "no pass was begun");
  expect_error([&] { reducer.begin(std::nan("")); }, "weight must be");
  reducer.begin(1.0);
  expect_error([&] { reducer.begin(1.0); }, "not finished");
  reducer.finish();
}

// Parameters count in the checksum, buffers only when asked; any change of a value changes it.
TEST(Distributed, ChecksumCoversParametersAndBuffers) {
  Generator gen(1);
  Model model = Model::create(nn::parse_model_spec("conv(2,3),batchnorm,relu,flatten,dense(2)"),
                              {1, 5, 5}, gen);
  nn::Module& net = *model.network;
  const uint64_t all = distributed::checksum(net), params = distributed::checksum(net, false);
  EXPECT_NE(all, params);
  net.named_buffers().front().second.data()[0] += 1.0f;
  EXPECT_NE(distributed::checksum(net), all);
  EXPECT_EQ(distributed::checksum(net, false), params);
  net.parameters().back().data()[0] += 1.0f;
  EXPECT_NE(distributed::checksum(net, false), params);
}

// A trainer given a one-rank communicator trains exactly as one without.
TEST(Distributed, TrainerWithOneRankIsUnchanged) {
  const data::Dataset ds = images(21);
  auto run = [&](distributed::Communicator* comm) {
    Generator gen(2);
    Model m = Model::create(nn::parse_model_spec("flatten,dense(3),tanh,dense(2)"), {1, 4, 4}, gen);
    optim::SGD sgd(m.network->parameters(), {.lr = 1e-4f, .momentum = 0.9f});
    train::Trainer t(*m.network, sgd, {.epochs = 2, .batch_size = 4, .communicator = comm});
    auto stats = t.fit(ds, {{"test", &ds}});
    return std::make_pair(distributed::checksum(*m.network), stats.back().eval("test")->loss);
  };
  EXPECT_EQ(run(&distributed::Communicator::world()), run(nullptr));
}

}  // namespace
}  // namespace bp::testing
