// Normalisation, dropout and embedding ops: gradient checks for every op kind, forward values
// against formulas computed here, and every error path.
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <numeric>
#include <thread>

#include "gradcheck_cases.hpp"
#include "test_util.hpp"

namespace bp {
namespace {

using autograd::OpKind;
using bp::testing::expect_error;
using bp::testing::random;

// ---- gradient checks ----

BP_GRADCHECK_CASES(cases) {
  Generator gen(31);
  auto bn = [](bool training) {
    return [training](const std::vector<Tensor>& x) {
      Tensor w = x.size() > 1 ? x[1] : Tensor(), b = x.size() > 2 ? x[2] : Tensor();
      if (training) return batch_norm(x[0], Tensor(), Tensor(), w, b, true);
      Tensor rm = Tensor::from_data({0.3f, -0.2f, 0.1f}, {3});
      Tensor rv = Tensor::from_data({0.5f, 1.5f, 2.0f}, {3});
      return batch_norm(x[0], rm, rv, w, b, false);
    };
  };
  cases[OpKind::batch_norm].push_back({"batch_norm 2-D train", bn(true), {random({5, 3}, gen)}});
  cases[OpKind::batch_norm].push_back(
      {"batch_norm 2-D train affine",
       bn(true),
       {random({4, 3}, gen), random({3}, gen, 0.5f, 2.0f), random({3}, gen)}});
  cases[OpKind::batch_norm].push_back(
      {"batch_norm 4-D train", bn(true), {random({2, 3, 2, 3}, gen)}});
  cases[OpKind::batch_norm].push_back(
      {"batch_norm 4-D train affine",
       bn(true),
       {random({3, 3, 2, 2}, gen), random({3}, gen, 0.5f, 2.0f), random({3}, gen)}});
  cases[OpKind::batch_norm].push_back(
      {"batch_norm 3-D eval affine",
       bn(false),
       {random({2, 3, 4}, gen), random({3}, gen, 0.5f, 2.0f), random({3}, gen)}});

  auto ln = [](Shape shape) {
    return [shape](const std::vector<Tensor>& x) {
      return layer_norm(x[0], shape, x.size() > 1 ? x[1] : Tensor(),
                        x.size() > 2 ? x[2] : Tensor());
    };
  };
  cases[OpKind::layer_norm].push_back({"layer_norm last dim", ln({5}), {random({3, 5}, gen)}});
  cases[OpKind::layer_norm].push_back(
      {"layer_norm last two dims affine",
       ln({3, 4}),
       {random({2, 3, 4}, gen), random({3, 4}, gen, 0.5f, 2.0f), random({3, 4}, gen)}});
  cases[OpKind::layer_norm].push_back(
      {"layer_norm 1-D affine",
       ln({6}),
       {random({6}, gen), random({6}, gen, 0.5f, 2.0f), random({6}, gen)}});

  // A fresh generator inside the function gives the same mask on every evaluation.
  cases[OpKind::dropout].push_back({"dropout p=0.4",
                                    [](const std::vector<Tensor>& x) {
                                      Generator mask_gen(5);
                                      return dropout(x[0], 0.4f, true, mask_gen);
                                    },
                                    {random({4, 6}, gen)}});

  cases[OpKind::embedding].push_back({"embedding repeated indices",
                                      [](const std::vector<Tensor>& x) {
                                        Tensor ids = Tensor::from_data({1, 0, 3, 1, 1, 2}, {2, 3});
                                        return embedding(ids, x[0]);
                                      },
                                      {random({4, 3}, gen)}});
}

// ---- batch norm ----

// Per-channel mean and biased variance of x (N, C, inner), in double.
void channel_stats(const Tensor& x, int64_t c, std::vector<double>& mean,
                   std::vector<double>& var) {
  const int64_t n = x.size(0), inner = x.numel() / (n * c);
  mean.assign(static_cast<size_t>(c), 0.0);
  var.assign(static_cast<size_t>(c), 0.0);
  for (int64_t ch = 0; ch < c; ++ch) {
    double s = 0, sq = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < inner; ++j) s += x.data()[(i * c + ch) * inner + j];
    const double mu = s / static_cast<double>(n * inner);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < inner; ++j) {
        const double d = x.data()[(i * c + ch) * inner + j] - mu;
        sq += d * d;
      }
    mean[static_cast<size_t>(ch)] = mu;
    var[static_cast<size_t>(ch)] = sq / static_cast<double>(n * inner);
  }
}

TEST(NormOpsTest, BatchNormTrainingGivesZeroMeanUnitVariancePerChannel) {
  Generator gen(1);
  for (Shape shape : {Shape{64, 4}, Shape{8, 3, 5, 5}}) {
    Tensor x = Tensor::uniform(shape, -3.0f, 5.0f, gen);
    Tensor y = batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1f, 1e-5f);
    std::vector<double> mean, var;
    channel_stats(y, shape[1], mean, var);
    for (size_t ch = 0; ch < mean.size(); ++ch) {
      EXPECT_NEAR(mean[ch], 0.0, 1e-5) << to_string(shape);
      EXPECT_NEAR(var[ch], 1.0, 1e-3) << to_string(shape);
    }
  }
}

TEST(NormOpsTest, BatchNormMatchesFormulaWithAffine) {
  Generator gen(2);
  Tensor x = Tensor::uniform({3, 2, 4}, -2.0f, 2.0f, gen);
  Tensor w = Tensor::from_data({1.5f, -0.5f}, {2}), b = Tensor::from_data({0.25f, 2.0f}, {2});
  const float eps = 1e-3f;
  Tensor y = batch_norm(x, Tensor(), Tensor(), w, b, true, 0.1f, eps);
  std::vector<double> mean, var;
  channel_stats(x, 2, mean, var);
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t ch = 0; ch < 2; ++ch)
      for (int64_t j = 0; j < 4; ++j) {
        const auto c = static_cast<size_t>(ch);
        const double expected =
            (x.at({i, ch, j}) - mean[c]) / std::sqrt(var[c] + eps) * w.data()[ch] + b.data()[ch];
        EXPECT_NEAR(y.at({i, ch, j}), expected, 1e-5);
      }
}

TEST(NormOpsTest, BatchNormUpdatesRunningStatsAndEvalUsesThem) {
  Tensor x = Tensor::from_data({1, 10, 3, 20, 8, 30}, {3, 2});
  Tensor rm = Tensor::zeros({2}), rv = Tensor::ones({2});
  batch_norm(x, rm, rv, Tensor(), Tensor(), true, 0.25f, 1e-5f);
  // Channel 0: mean 4, unbiased var ((9 + 1 + 16) / 2) = 13; channel 1: mean 20, var 100.
  EXPECT_NEAR(rm.data()[0], 0.25 * 4, 1e-5);
  EXPECT_NEAR(rm.data()[1], 0.25 * 20, 1e-5);
  EXPECT_NEAR(rv.data()[0], 0.75 + 0.25 * 13, 1e-4);
  EXPECT_NEAR(rv.data()[1], 0.75 + 0.25 * 100, 1e-4);

  Tensor probe = Tensor::from_data({2, 5}, {1, 2});
  Tensor y = batch_norm(probe, rm, rv, Tensor(), Tensor(), false);
  EXPECT_NEAR(y.data()[0], (2 - 1.0) / std::sqrt(4.0 + 1e-5), 1e-5);
  EXPECT_NEAR(y.data()[1], (5 - 5.0) / std::sqrt(25.75 + 1e-5), 1e-5);
  // Eval leaves the running statistics alone.
  EXPECT_NEAR(rm.data()[0], 1.0, 1e-6);
}

// The parts of a batch meeting at a plain barrier: the last to arrive adds the parts' sums in
// part order.
class TestSums : public BatchSums {
 public:
  explicit TestSums(int parts) : slots_(static_cast<size_t>(parts)) {}
  void all_reduce(int part, std::span<double> sums) override {
    std::unique_lock lock(mutex_);
    slots_[static_cast<size_t>(part)].assign(sums.begin(), sums.end());
    const int64_t round = round_;
    if (++arrived_ == static_cast<int>(slots_.size())) {
      total_.assign(sums.size(), 0.0);
      for (const auto& slot : slots_)
        for (size_t i = 0; i < slot.size(); ++i) total_[i] += slot[i];
      arrived_ = 0;
      ++round_;
      changed_.notify_all();
    }
    changed_.wait(lock, [&] { return round_ != round; });
    std::copy(total_.begin(), total_.end(), sums.begin());  // before anyone can arrive again
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::vector<double>> slots_;
  std::vector<double> total_;
  int arrived_ = 0;
  int64_t round_ = 0;
};

// A batch split into parts of 7 and 5 rows, each on its own thread: every part's output and input
// gradient are its rows of one pass's, the parts' weight and bias gradients add up to one pass's,
// and the running statistics are updated once, as by one pass.
TEST(NormOpsTest, BatchNormPartsOfABatchComputeWhatOnePassDoes) {
  Generator gen(8);
  const Shape shape{12, 3, 4};
  Tensor x = Tensor::uniform(shape, -1.0f, 3.0f, gen), up = Tensor::uniform(shape, -1, 1, gen);
  Tensor w = Tensor::uniform({3}, 0.5f, 1.5f, gen, true),
         b = Tensor::uniform({3}, -1, 1, gen, true);
  auto pass = [&](const Tensor& rows, const Tensor& gy, const Tensor& rm, const Tensor& rv,
                  BatchPart part) {
    autograd::LeafGradientSink sink;
    Tensor xs = rows.clone();
    xs.set_requires_grad(true);
    Tensor y = batch_norm(xs, rm, rv, w, b, true, 0.1f, 1e-5f, part);
    y.backward(gy);
    return std::vector<Tensor>{y.detach(), sink.grad(xs), sink.grad(w), sink.grad(b)};
  };
  Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3});
  const std::vector<Tensor> whole = pass(x, up, rm, rv, {});

  TestSums sums(2);
  Tensor prm = Tensor::zeros({3}), prv = Tensor::ones({3});
  std::vector<std::vector<Tensor>> parts(2);
  const int64_t cut[] = {0, 7, 12};
  auto run = [&](int p) {
    parts[static_cast<size_t>(p)] = pass(slice(x, 0, cut[p], cut[p + 1]),
                                         slice(up, 0, cut[p], cut[p + 1]), prm, prv, {&sums, p});
  };
  std::thread second(run, 1);
  run(0);
  second.join();
  for (size_t k = 0; k < 2; ++k) {  // y and gx: the parts' rows, in order
    std::vector<float> got = parts[0][k].to_vector(), more = parts[1][k].to_vector();
    got.insert(got.end(), more.begin(), more.end());
    const std::vector<float> want = whole[k].to_vector();
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << k << "," << i;
  }
  EXPECT_TRUE(allclose(parts[0][2] + parts[1][2], whole[2], 1e-5f, 1e-5f));  // gγ
  EXPECT_TRUE(allclose(parts[0][3] + parts[1][3], whole[3], 1e-5f, 1e-5f));  // gβ
  EXPECT_TRUE(allclose(prm, rm, 1e-6f, 1e-6f));
  EXPECT_TRUE(allclose(prv, rv, 1e-6f, 1e-6f));
}

TEST(NormOpsTest, BatchNormErrors) {
  Tensor x = Tensor::zeros({4, 3});
  Tensor none;
  expect_error([&] { batch_norm(none, none, none, none, none, true); },
               "batch_norm: the input tensor is undefined");
  expect_error([&] { batch_norm(Tensor::zeros({3}), none, none, none, none, true); },
               "batch_norm: input must be (N, C) or (N, C, spatial...), got [3]");
  expect_error([&] { batch_norm(x, none, none, Tensor::ones({4}), none, true); },
               "batch_norm: weight must have shape [3], got [4]");
  expect_error([&] { batch_norm(x, none, none, none, Tensor::ones({2}), true); },
               "batch_norm: bias must have shape [3], got [2]");
  expect_error([&] { batch_norm(x, Tensor::ones({2}), Tensor::ones({3}), none, none, true); },
               "batch_norm: running_mean must have shape [3], got [2]");
  expect_error([&] { batch_norm(x, Tensor::ones({3}), none, none, none, true); },
               "batch_norm: running_mean and running_var must be given together");
  expect_error([&] { batch_norm(x, none, none, none, none, false); },
               "batch_norm: evaluation mode needs running_mean and running_var");
  expect_error(
      [&] {
        batch_norm(Tensor::zeros({1, 3}), none, none, none, none, true);
      },
      "batch_norm: training needs more than one value per channel, got input [1, 3]");
  expect_error([&] { batch_norm(x, none, none, none, none, true, 0.1f, 0.0f); },
               "batch_norm: eps must be positive, got 0");
  expect_error([&] { batch_norm(x, none, none, none, none, true, 1.5f); },
               "batch_norm: momentum must be in [0, 1], got 1.5");
}

// The fast backend (oneDNN's normalisation with given statistics) agrees with the reference
// kernels, forward and backward, with and without affine parameters, in training and eval.
TEST(NormOpsTest, BatchNormFastMatchesReference) {
  struct Run {
    Tensor y, gx, gw, gb;
  };
  auto run = [](Backend which, const Shape& shape, bool affine, bool training, uint64_t seed) {
    set_backend(which);
    Generator gen(seed);
    const int64_t c = shape[1];
    Tensor x = Tensor::uniform(shape, -2.0f, 3.0f, gen, true);
    Tensor w = affine ? Tensor::uniform({c}, 0.5f, 1.5f, gen, true) : Tensor();
    Tensor b = affine ? Tensor::uniform({c}, -1.0f, 1.0f, gen, true) : Tensor();
    Tensor rm = Tensor::uniform({c}, -0.5f, 0.5f, gen), rv = Tensor::uniform({c}, 0.5f, 2.0f, gen);
    Tensor y = batch_norm(x, rm, rv, w, b, training, 0.1f, 1e-5f);
    Tensor up = Tensor::uniform(shape, -1.0f, 1.0f, gen);
    y.backward(up);
    set_backend(Backend::fast);
    return Run{y, x.grad(), affine ? w.grad() : Tensor(), affine ? b.grad() : Tensor()};
  };
  uint64_t seed = 40;
  for (Shape shape : {Shape{16, 5}, Shape{4, 3, 6, 7}, Shape{2, 8, 33}, Shape{32, 16, 13, 13}})
    for (bool affine : {false, true})
      for (bool training : {true, false}) {
        Run fast = run(Backend::fast, shape, affine, training, seed);
        Run ref = run(Backend::reference, shape, affine, training, seed++);
        const std::string what =
            to_string(shape) + (affine ? " affine" : "") + (training ? " train" : " eval");
        EXPECT_TRUE(allclose(fast.y, ref.y, 1e-4f, 1e-5f)) << what;
        EXPECT_TRUE(allclose(fast.gx, ref.gx, 1e-3f, 1e-5f)) << what;
        if (affine) {
          EXPECT_TRUE(allclose(fast.gw, ref.gw, 1e-3f, 1e-4f)) << what;
          EXPECT_TRUE(allclose(fast.gb, ref.gb, 1e-3f, 1e-4f)) << what;
        }
      }
}

// ---- layer norm ----

TEST(NormOpsTest, LayerNormMatchesFormula) {
  Generator gen(3);
  Tensor x = Tensor::uniform({2, 3, 4}, -2.0f, 3.0f, gen);
  Tensor w = Tensor::uniform({3, 4}, 0.5f, 1.5f, gen), b = Tensor::uniform({3, 4}, -1, 1, gen);
  Tensor y = layer_norm(x, {3, 4}, w, b, 1e-5f);
  for (int64_t i = 0; i < 2; ++i) {
    double s = 0, sq = 0;
    for (int64_t j = 0; j < 12; ++j) s += x.data()[i * 12 + j];
    const double mu = s / 12;
    for (int64_t j = 0; j < 12; ++j) sq += std::pow(x.data()[i * 12 + j] - mu, 2);
    const double rstd = 1 / std::sqrt(sq / 12 + 1e-5);
    for (int64_t j = 0; j < 12; ++j)
      EXPECT_NEAR(y.data()[i * 12 + j],
                  (x.data()[i * 12 + j] - mu) * rstd * w.data()[j] + b.data()[j], 1e-5);
  }
  // Without affine each row has mean 0 and variance 1.
  Tensor z = layer_norm(x, {4});
  for (int64_t r = 0; r < 6; ++r) {
    double s = 0, sq = 0;
    for (int64_t j = 0; j < 4; ++j) s += z.data()[r * 4 + j];
    for (int64_t j = 0; j < 4; ++j) sq += std::pow(z.data()[r * 4 + j] - s / 4, 2);
    EXPECT_NEAR(s / 4, 0.0, 1e-6);
    EXPECT_NEAR(sq / 4, 1.0, 1e-3);
  }
}

TEST(NormOpsTest, LayerNormErrors) {
  Tensor x = Tensor::zeros({2, 3});
  expect_error([&] { layer_norm(Tensor(), {3}); }, "layer_norm: the input tensor is undefined");
  expect_error([&] { layer_norm(x, {}); }, "layer_norm: normalized_shape must not be empty");
  expect_error([&] { layer_norm(x, {2}); },
               "layer_norm: input shape [2, 3] does not end with normalized_shape [2]");
  expect_error(
      [&] {
        layer_norm(x, {1, 2, 3});
      },
      "layer_norm: input shape [2, 3] does not end with normalized_shape [1, 2, 3]");
  expect_error([&] { layer_norm(x, {3}, Tensor::ones({2})); },
               "layer_norm: weight must have shape [3], got [2]");
  expect_error(
      [&] {
        layer_norm(x, {3}, Tensor(), Tensor::ones({3, 1}));
      },
      "layer_norm: bias must have shape [3], got [3, 1]");
  expect_error([&] { layer_norm(x, {3}, Tensor(), Tensor(), -1.0f); },
               "layer_norm: eps must be positive, got -1");
}

// ---- dropout ----

TEST(NormOpsTest, DropoutZeroesAboutPAndScalesSurvivors) {
  Generator gen(4);
  const float p = 0.3f;
  Tensor x = Tensor::uniform({200, 500}, 0.5f, 1.5f, gen);
  Tensor y = dropout(x, p, true, gen);
  int64_t zeros = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (y.data()[i] == 0.0f) {
      ++zeros;
    } else {
      ASSERT_NEAR(y.data()[i], x.data()[i] / (1 - p), 1e-6);
    }
  }
  EXPECT_NEAR(static_cast<double>(zeros) / static_cast<double>(x.numel()), p, 0.005);
}

TEST(NormOpsTest, DropoutEvalIsIdentityAndSameSeedSameMask) {
  Generator gen(5);
  Tensor x = Tensor::uniform({10, 10}, 1.0f, 2.0f, gen);
  EXPECT_TRUE(dropout(x, 0.5f, false, gen).is_same(x));
  EXPECT_TRUE(dropout(x, 0.0f, true, gen).is_same(x));
  Generator a(9), b(9);
  Tensor ya = dropout(x, 0.5f, true, a), yb = dropout(x, 0.5f, true, b);
  EXPECT_EQ(ya.to_vector(), yb.to_vector());
  // The generator advances: the next mask differs.
  EXPECT_NE(dropout(x, 0.5f, true, a).to_vector(), ya.to_vector());
}

TEST(NormOpsTest, DropoutGradientIsTheMask) {
  Generator gen(6);
  Tensor x = Tensor::uniform({50}, 1.0f, 2.0f, gen, true);
  Tensor y = dropout(x, 0.5f, true, gen);
  sum(y).backward();
  for (int64_t i = 0; i < 50; ++i)
    EXPECT_FLOAT_EQ(x.grad().data()[i], y.data()[i] == 0.0f ? 0.0f : 2.0f);
}

// The mask is a function of the key and each element's place in the batch: rows [r, r + k)
// computed on their own from first_row r get the same mask as in the whole batch; another key
// gives another mask; about p of a large tensor is dropped.
TEST(NormOpsTest, DropoutMaskFollowsKeyAndRowPosition) {
  Tensor x = Tensor::ones({64, 50});
  const std::vector<float> whole = dropout(x, 0.3f, true, 1234, 0).to_vector();
  const std::vector<float> part = dropout(slice(x, 0, 20, 64), 0.3f, true, 1234, 20).to_vector();
  ASSERT_EQ(part.size(), 44u * 50u);
  for (size_t i = 0; i < part.size(); ++i) ASSERT_EQ(part[i], whole[20 * 50 + i]) << i;
  EXPECT_NE(dropout(x, 0.3f, true, 1235, 0).to_vector(), whole);
  Tensor big = Tensor::ones({1000, 1000});
  const std::vector<float> y = dropout(big, 0.3f, true, 99).to_vector();
  int64_t zeros = 0;
  for (float v : y) {
    if (v == 0.0f) {
      ++zeros;
    } else {
      ASSERT_FLOAT_EQ(v, 1.0f / 0.7f);
    }
  }
  EXPECT_NEAR(static_cast<double>(zeros) / 1e6, 0.3, 0.002);
  expect_error([&] { dropout(x, 0.3f, true, 1, -1); }, "dropout: first_row must be >= 0, got -1");
}

TEST(NormOpsTest, DropoutErrors) {
  Generator gen(7);
  Tensor x = Tensor::zeros({3});
  expect_error([&] { dropout(Tensor(), 0.5f, true, gen); },
               "dropout: the input tensor is undefined");
  expect_error([&] { dropout(x, 1.0f, true, gen); }, "dropout: p must be in [0, 1), got 1");
  expect_error([&] { dropout(x, -0.1f, false, gen); }, "dropout: p must be in [0, 1), got -0.1");
  expect_error([&] { dropout(x, NAN, true, gen); }, "dropout: p must be in [0, 1), got nan");
}

// ---- embedding ----

TEST(NormOpsTest, EmbeddingLooksUpRowsAndAddsGradientsOfRepeats) {
  Tensor w = Tensor::from_data({0, 1, 10, 11, 20, 21}, {3, 2}, true);
  Tensor ids = Tensor::from_data({2, 0, 2, 2}, {2, 2});
  Tensor y = embedding(ids, w);
  EXPECT_EQ(y.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{20, 21, 0, 1, 20, 21, 20, 21}));
  sum(y).backward();
  EXPECT_EQ(w.grad().to_vector(), (std::vector<float>{1, 1, 0, 0, 3, 3}));
  // A scalar index gives one row.
  EXPECT_EQ(embedding(Tensor::scalar(1), w).shape(), (Shape{2}));
}

TEST(NormOpsTest, EmbeddingErrors) {
  Tensor w = Tensor::zeros({4, 2});
  expect_error([&] { embedding(Tensor(), w); }, "embedding: the indices tensor is undefined");
  expect_error([&] { embedding(Tensor::zeros({2}), Tensor()); },
               "embedding: the weight tensor is undefined");
  expect_error([&] { embedding(Tensor::zeros({2}), Tensor::zeros({4})); },
               "embedding: weight must be 2-D (num, dim), got [4]");
  expect_error(
      [&] {
        embedding(Tensor::from_data({0, 1.5f}, {2}), w);
      },
      "embedding: index 1.5 at position 1 is not an integer");
  expect_error([&] { embedding(Tensor::from_data({4}, {1}), w); },
               "embedding: index 4 at position 0 is out of range [0, 4)");
  expect_error(
      [&] {
        embedding(Tensor::from_data({0, 0, -1}, {3}), w);
      },
      "embedding: index -1 at position 2 is out of range [0, 4)");
  expect_error([&] { embedding(Tensor::from_data({NAN}, {1}), w); },
               "embedding: index nan at position 0 is not an integer");
}

}  // namespace
}  // namespace bp
