// Optimizer steps in two parts: begin_step() then apply() over disjoint element ranges, in any
// order and from several threads, against step(), bit for bit, for every optimizer and variant;
// what begin_step() returns and when it throws; step() on 1 and 2 threads; an optimizer written
// outside the library.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <thread>

#include "core/tensor_impl.hpp"
#include "test_util.hpp"

namespace bp {
namespace {

using bp::testing::expect_error;
using Groups = std::vector<optim::ParamGroup>;
using Make = std::function<std::unique_ptr<optim::Optimizer>(Groups)>;

const std::vector<int64_t> kSizes{1, 7, 1000, 4099};

// Parameters of kSizes in two groups, the second with weight decay (L2, or decoupled for AdamW).
struct Model {
  std::vector<Tensor> params;
  std::unique_ptr<optim::Optimizer> opt;

  explicit Model(const Make& make) {
    Generator gen(7);
    for (int64_t n : kSizes) params.push_back(Tensor::normal({n}, 0.0f, 1.0f, gen, true));
    params[1].data()[0] = 0.0f;
    params[1].data()[1] = -0.0f;
    opt =
        make(Groups{{{params[0], params[2]}, 0.05f, 0.0f}, {{params[1], params[3]}, 0.02f, 0.03f}});
  }

  // Sets every gradient to `grads` (parameter `skip` gets none).
  void set_grads(const std::vector<Tensor>& grads, size_t skip) {
    opt->zero_grad();
    Tensor loss = Tensor::scalar(0.0f);
    for (size_t i = 0; i < params.size(); ++i) {
      if (i == skip) {
        params[i].clear_grad();
        continue;
      }
      loss = loss + sum(params[i] * grads[i]);
    }
    loss.backward();
  }
};

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<size_t>(a.numel())) == 0;
}

// Applies every element of every update once: each update cut at random points, the pieces
// shuffled and dealt to two threads.
void apply_in_pieces(optim::Optimizer& opt, std::mt19937& rng) {
  struct Piece {
    const optim::ElementUpdate* update;
    int64_t begin, end;
  };
  std::vector<Piece> pieces;
  for (const optim::ElementUpdate& u : opt.begin_step()) {
    std::vector<int64_t> cuts{0, u.size};
    const int64_t n = std::min<int64_t>(u.size - 1, 6);
    for (int64_t c = 0; c < n; ++c)
      cuts.push_back(std::uniform_int_distribution<int64_t>(1, u.size - 1)(rng));
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    for (size_t c = 0; c + 1 < cuts.size(); ++c) pieces.push_back({&u, cuts[c], cuts[c + 1]});
  }
  std::shuffle(pieces.begin(), pieces.end(), rng);
  auto work = [&](size_t first) {
    for (size_t i = first; i < pieces.size(); i += 2)
      opt.apply(*pieces[i].update, pieces[i].begin, pieces[i].end);
  };
  std::thread other(work, size_t{1});
  work(0);
  other.join();
}

void expect_split_equals_step(const Make& make) {
  Model a(make), b(make);
  Generator gen(11);
  std::mt19937 rng(5);
  for (int step = 0; step < 5; ++step) {
    std::vector<Tensor> grads;
    for (int64_t n : kSizes) grads.push_back(Tensor::normal({n}, 0.0f, 1.0f, gen));
    grads[1].data()[0] = -0.0f;
    const size_t skip = step == 2 ? 2 : kSizes.size();  // parameter 2 sits out step 3
    a.set_grads(grads, skip);
    b.set_grads(grads, skip);
    a.opt->step();
    apply_in_pieces(*b.opt, rng);
  }
  for (size_t i = 0; i < kSizes.size(); ++i)
    EXPECT_TRUE(same_bits(a.params[i], b.params[i])) << "parameter " << i;
  const auto sa = a.opt->state(), sb = b.opt->state();
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    EXPECT_EQ(sa[i].first, sb[i].first);
    EXPECT_TRUE(same_bits(sa[i].second, sb[i].second)) << sa[i].first;
  }
}

template <class Opt, class Options>
Make maker(Options o) {
  return [o](Groups g) { return std::make_unique<Opt>(std::move(g), o); };
}

TEST(OptimizerApply, SGDInPiecesEqualsStep) {
  expect_split_equals_step(maker<optim::SGD>(optim::SGDOptions{}));
  expect_split_equals_step(maker<optim::SGD>(optim::SGDOptions{.momentum = 0.9f}));
  expect_split_equals_step(
      maker<optim::SGD>(optim::SGDOptions{.momentum = 0.8f, .nesterov = true}));
}

TEST(OptimizerApply, AdagradInPiecesEqualsStep) {
  expect_split_equals_step(maker<optim::Adagrad>(optim::AdagradOptions{}));
  expect_split_equals_step(maker<optim::Adagrad>(
      optim::AdagradOptions{.lr_decay = 0.1f, .initial_accumulator_value = 0.3f}));
}

TEST(OptimizerApply, RMSpropInPiecesEqualsStep) {
  expect_split_equals_step(maker<optim::RMSprop>(optim::RMSpropOptions{}));
  expect_split_equals_step(maker<optim::RMSprop>(optim::RMSpropOptions{.centered = true}));
  expect_split_equals_step(maker<optim::RMSprop>(optim::RMSpropOptions{.momentum = 0.7f}));
  expect_split_equals_step(
      maker<optim::RMSprop>(optim::RMSpropOptions{.momentum = 0.7f, .centered = true}));
}

TEST(OptimizerApply, AdamFamilyInPiecesEqualsStep) {
  expect_split_equals_step(maker<optim::Adam>(optim::AdamOptions{}));
  expect_split_equals_step(maker<optim::Adam>(optim::AdamOptions{.amsgrad = true}));
  expect_split_equals_step(maker<optim::AdamW>(optim::AdamWOptions{}));
  optim::AdamWOptions amsgrad;
  amsgrad.amsgrad = true;
  expect_split_equals_step(maker<optim::AdamW>(amsgrad));
  expect_split_equals_step(maker<optim::Adamax>(optim::AdamaxOptions{}));
  expect_split_equals_step(maker<optim::NAdam>(optim::NAdamOptions{}));
}

TEST(OptimizerApply, BeginStepListsParametersWithGradients) {
  Tensor a = Tensor::ones({3}, true), b = Tensor::ones({2}, true), c = Tensor::ones({4}, true);
  optim::Adam adam({a, b, c}, {});
  (sum(a) + sum(c)).backward();
  const std::vector<optim::ElementUpdate>& first = adam.begin_step();
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].index, 0u);
  EXPECT_EQ(first[0].size, 3);
  EXPECT_EQ(first[0].weight, a.data());
  EXPECT_EQ(first[0].grad, a.grad().data());
  EXPECT_EQ(first[1].index, 2u);
  EXPECT_EQ(first[1].size, 4);
  EXPECT_EQ(first[1].weight, c.data());
  for (const optim::ElementUpdate& u : first) adam.apply(u, 0, u.size);
  std::vector<std::string> names;
  for (const auto& [name, t] : adam.state()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"step.0", "exp_avg.0", "exp_avg_sq.0", "step.2",
                                             "exp_avg.2", "exp_avg_sq.2"}));
  EXPECT_EQ(b.to_vector(), (std::vector<float>{1, 1}));

  // A second begin_step replaces the list: c has no gradient any more.
  c.clear_grad();
  const std::vector<optim::ElementUpdate>& second = adam.begin_step();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].index, 0u);
  EXPECT_EQ(adam.state()[0].second.item(), 2.0f);  // a's update count
  EXPECT_EQ(adam.state()[3].second.item(), 1.0f);  // c's

  // SGD without momentum keeps no state; with it, none for a parameter never updated.
  optim::SGD sgd({a, b, c}, {.momentum = 0.5f});
  ASSERT_EQ(sgd.begin_step().size(), 1u);
  EXPECT_FALSE(sgd.velocity()[1].defined());
  EXPECT_FALSE(sgd.velocity()[2].defined());
  EXPECT_EQ(sgd.begin_step()[0].state[0], sgd.velocity()[0].data());
}

TEST(OptimizerApply, BeginStepChecksEveryShapeBeforeChangingAnything) {
  Tensor a = Tensor::ones({3}, true), b = Tensor::ones({2}, true);
  optim::NAdam nadam({a, b}, {});
  sum(a).backward();
  b.impl()->grad = Tensor::zeros({5}).impl();  // a gradient that does not fit
  expect_error([&] { nadam.begin_step(); }, "nadam: gradient shape [5] differs from the shape [2]");
  expect_error([&] { nadam.step(); }, "of parameter 1");
  EXPECT_TRUE(nadam.state().empty());  // a, checked first, was not counted
  EXPECT_EQ(a.to_vector(), (std::vector<float>{1, 1, 1}));
  b.clear_grad();
  nadam.step();
  EXPECT_EQ(nadam.state()[0].first, "step.0");
  EXPECT_EQ(nadam.state()[0].second.item(), 1.0f);
}

using testing::ThreadsScope;

TEST(OptimizerApply, StepOnTwoThreadsEqualsOneThread) {
  // Above every optimizer's threshold for sharing one tensor's update among the threads.
  const int64_t n = (int64_t{1} << 22) + 3;
  for (const char* kind : {"sgd", "adam"}) {
    std::vector<Tensor> w;
    for (int threads : {1, 2}) {
      ThreadsScope scope(threads);
      Generator gen(3);
      w.push_back(Tensor::normal({n}, 0.0f, 1.0f, gen, true));
      auto opt = optim::make_optimizer(kind, {w.back()}, {.momentum = 0.9f, .weight_decay = 0.01f});
      for (int step = 0; step < 3; ++step) {
        opt->zero_grad();
        sum(w.back() * Tensor::normal({n}, 0.0f, 1.0f, gen)).backward();
        opt->step();
      }
    }
    EXPECT_TRUE(same_bits(w[0], w[1])) << kind;
    Generator gen(3);
    EXPECT_FALSE(same_bits(w[0], Tensor::normal({n}, 0.0f, 1.0f, gen))) << kind << " did not move";
  }
}

// An optimizer written outside the library: w ← w − lr·sign(g).
class SignSGD : public optim::Optimizer {
 public:
  SignSGD(std::vector<Tensor> params, float lr) : Optimizer({{std::move(params), lr}}) {}
  void apply(const optim::ElementUpdate& u, int64_t begin, int64_t end) const override {
    for (int64_t i = begin; i < end; ++i)
      u.weight[i] -= u.scalars[0] * static_cast<float>((u.grad[i] > 0) - (u.grad[i] < 0));
  }
  std::string kind() const override { return "sign_sgd"; }
  std::vector<std::pair<std::string, Tensor>> state() const override { return {}; }
  void load_state(const std::vector<std::pair<std::string, Tensor>>&) override {}

 private:
  void prepare(std::vector<optim::ElementUpdate>& updates) override {
    size_t k = 0;
    for (optim::ParamGroup& g : groups_) {
      for (Tensor& p : g.params) {
        const size_t index = k++;
        Tensor grad = p.grad();
        if (!grad.defined()) continue;
        optim::ElementUpdate u;
        u.index = index;
        u.size = p.numel();
        u.weight = p.data();
        u.grad = grad.data();
        u.scalars[0] = g.lr;
        updates.push_back(u);
      }
    }
  }
};

TEST(OptimizerApply, OptimizerWrittenOutsideTheLibrary) {
  Tensor w = Tensor::from_data({1, 2, 3}, {3}, true), unused = Tensor::ones({1}, true);
  SignSGD opt({w, unused}, 0.5f);
  sum(w * Tensor::from_data({-2, 0, 3}, {3})).backward();
  opt.step();
  EXPECT_EQ(w.to_vector(), (std::vector<float>{1.5f, 2.0f, 2.5f}));
  EXPECT_EQ(unused.item(), 1.0f);
  Tensor bad = Tensor::ones({2}, true);
  SignSGD other({bad}, 0.5f);
  bad.impl()->grad = Tensor::zeros({3}).impl();
  expect_error([&] { other.step(); }, "sign_sgd: gradient shape [3]");
}

}  // namespace
}  // namespace bp
