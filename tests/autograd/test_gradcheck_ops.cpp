// Every differentiable op, checked against central finite differences on random shapes
// (broadcasting included). Cases of the core ops are here; other test files add theirs with
// BP_GRADCHECK_CASES. The registry test fails when an OpKind has no case anywhere.
#include <map>
#include <set>

#include "gradcheck_cases.hpp"
#include "test_util.hpp"

namespace bp {
namespace {

using autograd::OpKind;
using bp::testing::away_from;
using bp::testing::random;
using Fn = std::function<Tensor(const std::vector<Tensor>&)>;
using Case = bp::testing::GradcheckCase;

// A few shapes per op, drawn from a seeded generator so that failures reproduce.
Shape random_shape(Generator& gen, int rank) {
  Shape s;
  for (int i = 0; i < rank; ++i) s.push_back(static_cast<int64_t>(1 + gen.below(4)));
  return s;
}

void core_cases(bp::testing::GradcheckCases& c) {
  Generator gen(2024);
  auto unary = [&](OpKind kind, const std::string& label, Fn fn, auto make) {
    for (int rank : {1, 2, 3}) c[kind].push_back({label, fn, {make(random_shape(gen, rank))}});
  };
  auto plain = [&](float lo, float hi) {
    return [&gen, lo, hi](Shape s) { return random(s, gen, lo, hi); };
  };
  auto kinked = [&](std::initializer_list<float> kinks) {
    std::vector<float> k(kinks);
    return [&gen, k](Shape s) {
      Tensor t = away_from(s, gen, {});
      for (float& v : t.values())
        for (float kink : k)
          while (std::fabs(v - kink) < 0.1f) v = gen.uniform(-2.0f, 2.0f);
      return t;
    };
  };

  // Binary ops: equal shapes and several broadcasting patterns.
  const std::vector<std::pair<Shape, Shape>> pairs = {
      {{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{2, 1, 4}, {3, 1}}, {{5}, {}}, {{1, 3}, {2, 1}}};
  auto binary = [&](OpKind kind, const std::string& label, Fn fn, float lo_b, float hi_b) {
    for (auto& [sa, sb] : pairs)
      c[kind].push_back({label + " " + to_string(sa) + "," + to_string(sb),
                         fn,
                         {random(sa, gen, 0.5f, 2.0f), random(sb, gen, lo_b, hi_b)}});
  };
  binary(
      OpKind::add, "add", [](auto& x) { return add(x[0], x[1]); }, -2, 2);
  binary(
      OpKind::sub, "sub", [](auto& x) { return sub(x[0], x[1]); }, -2, 2);
  binary(
      OpKind::mul, "mul", [](auto& x) { return mul(x[0], x[1]); }, -2, 2);
  binary(
      OpKind::div, "div", [](auto& x) { return div(x[0], x[1]); }, 0.5, 2);
  binary(
      OpKind::pow, "pow", [](auto& x) { return pow(x[0], x[1]); }, -2, 2);

  unary(
      OpKind::pow_scalar, "pow 3", [](auto& x) { return pow(x[0], 3.0f); }, plain(-2, 2));
  unary(
      OpKind::pow_scalar, "pow 0.5", [](auto& x) { return pow(x[0], 0.5f); }, plain(0.5, 2));
  unary(
      OpKind::pow_scalar, "square", [](auto& x) { return square(x[0]); }, plain(-2, 2));
  unary(
      OpKind::neg, "neg", [](auto& x) { return -x[0]; }, plain(-2, 2));
  unary(
      OpKind::exp, "exp", [](auto& x) { return exp(x[0]); }, plain(-2, 2));
  unary(
      OpKind::log, "log", [](auto& x) { return log(x[0]); }, plain(0.5, 3));
  unary(
      OpKind::sqrt, "sqrt", [](auto& x) { return sqrt(x[0]); }, plain(0.5, 3));
  unary(
      OpKind::abs, "abs", [](auto& x) { return abs(x[0]); }, kinked({0}));
  unary(
      OpKind::clamp, "clamp", [](auto& x) { return clamp(x[0], -0.5f, 1.0f); },
      kinked({-0.5f, 1.0f}));
  unary(
      OpKind::sigmoid, "sigmoid", [](auto& x) { return sigmoid(x[0]); }, plain(-4, 4));
  unary(
      OpKind::tanh, "tanh", [](auto& x) { return tanh(x[0]); }, plain(-3, 3));
  unary(
      OpKind::relu, "relu", [](auto& x) { return relu(x[0]); }, kinked({0}));
  unary(
      OpKind::leaky_relu, "leaky_relu", [](auto& x) { return leaky_relu(x[0], 0.1f); },
      kinked({0}));
  unary(
      OpKind::elu, "elu", [](auto& x) { return elu(x[0], 0.7f); }, kinked({0}));
  unary(
      OpKind::selu, "selu", [](auto& x) { return selu(x[0]); }, kinked({0}));
  unary(
      OpKind::gelu, "gelu", [](auto& x) { return gelu(x[0]); }, plain(-3, 3));
  unary(
      OpKind::softplus, "softplus", [](auto& x) { return softplus(x[0], 2.0f); }, plain(-3, 3));
  unary(
      OpKind::silu, "silu", [](auto& x) { return silu(x[0]); }, plain(-3, 3));
  unary(
      OpKind::mish, "mish", [](auto& x) { return mish(x[0]); }, plain(-3, 3));
  unary(
      OpKind::hardswish, "hardswish", [](auto& x) { return hardswish(x[0]); }, kinked({-3, 3}));

  // Linear algebra.
  c[OpKind::matmul].push_back({"matmul 2-D",
                               [](auto& x) { return matmul(x[0], x[1]); },
                               {random({3, 4}, gen), random({4, 5}, gen)}});
  c[OpKind::matmul].push_back({"matmul batched",
                               [](auto& x) { return matmul(x[0], x[1]); },
                               {random({2, 3, 4}, gen), random({2, 4, 2}, gen)}});
  c[OpKind::matmul].push_back({"matmul broadcast batch",
                               [](auto& x) { return matmul(x[0], x[1]); },
                               {random({2, 1, 3, 4}, gen), random({3, 4, 2}, gen)}});
  c[OpKind::linear].push_back({"linear",
                               [](auto& x) { return linear(x[0], x[1], x[2]); },
                               {random({5, 4}, gen), random({3, 4}, gen), random({3}, gen)}});
  c[OpKind::linear].push_back({"linear 3-D, no bias",
                               [](auto& x) { return linear(x[0], x[1]); },
                               {random({2, 3, 4}, gen), random({2, 4}, gen)}});

  // Reductions.
  c[OpKind::sum].push_back({"sum all", [](auto& x) { return sum(x[0]); }, {random({3, 4}, gen)}});
  c[OpKind::sum].push_back({"sum axes 0,2",
                            [](auto& x) {
                              return sum(x[0], {0, 2});
                            },
                            {random({2, 3, 4}, gen)}});
  c[OpKind::sum].push_back({"mean axis -1 keepdim",
                            [](auto& x) { return mean(x[0], {-1}, true); },
                            {random({2, 3, 4}, gen)}});
  c[OpKind::sum].push_back({"mean all", [](auto& x) { return mean(x[0]); }, {random({4, 2}, gen)}});
  auto distinct = [&](Shape s) {
    // Values 0.3 apart in a shuffled order: no ties within the finite-difference step.
    Tensor t = Tensor::arange(0, static_cast<float>(numel(s))) * 0.3f;
    std::vector<float> v = t.to_vector();
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[gen.below(i)]);
    return Tensor::from_data(v, s, true);
  };
  c[OpKind::max].push_back({"max all", [](auto& x) { return max(x[0]); }, {distinct({3, 4})}});
  c[OpKind::max].push_back(
      {"max axis 1", [](auto& x) { return max(x[0], 1); }, {distinct({2, 3, 4})}});
  c[OpKind::max].push_back(
      {"min axis 0 keepdim", [](auto& x) { return min(x[0], 0, true); }, {distinct({3, 2})}});
  c[OpKind::broadcast_to].push_back({"broadcast_to",
                                     [](auto& x) {
                                       return broadcast_to(x[0], {2, 3, 4});
                                     },
                                     {random({3, 1}, gen)}});

  // Shape and indexing.
  c[OpKind::reshape].push_back({"reshape",
                                [](auto& x) {
                                  return reshape(x[0], {4, -1});
                                },
                                {random({2, 3, 2}, gen)}});
  c[OpKind::reshape].push_back(
      {"flatten", [](auto& x) { return flatten(x[0]); }, {random({2, 3, 2}, gen)}});
  c[OpKind::permute].push_back({"permute",
                                [](auto& x) {
                                  return permute(x[0], {2, 0, 1});
                                },
                                {random({2, 3, 4}, gen)}});
  c[OpKind::permute].push_back(
      {"transpose", [](auto& x) { return transpose(x[0]); }, {random({3, 5}, gen)}});
  c[OpKind::concat].push_back({"concat axis 1",
                               [](auto& x) {
                                 return concat({x[0], x[1], x[0]}, 1);
                               },
                               {random({2, 3}, gen), random({2, 1}, gen)}});
  c[OpKind::slice].push_back(
      {"slice step 2", [](auto& x) { return slice(x[0], 1, 1, 6, 2); }, {random({2, 7, 2}, gen)}});
  c[OpKind::slice].push_back(
      {"slice negative", [](auto& x) { return slice(x[0], 0, -3, -1); }, {random({5, 2}, gen)}});
  c[OpKind::slice].push_back(  // contiguous runs in several blocks, as an LSTM cuts its gates
      {"slice middle axis",
       [](auto& x) { return slice(x[0], 1, 2, 5); },
       {random({3, 6, 2}, gen)}});
  c[OpKind::index_select].push_back({"index_select repeats",
                                     [](auto& x) {
                                       std::vector<int64_t> idx{2, 0, 2, 1};
                                       return index_select(x[0], 1, idx);
                                     },
                                     {random({2, 3, 2}, gen)}});

  // Softmax.
  c[OpKind::softmax].push_back(
      {"softmax last", [](auto& x) { return softmax(x[0]); }, {random({3, 5}, gen)}});
  c[OpKind::softmax].push_back(
      {"softmax axis 0", [](auto& x) { return softmax(x[0], 0); }, {random({4, 2, 3}, gen)}});
  c[OpKind::log_softmax].push_back(
      {"log_softmax", [](auto& x) { return log_softmax(x[0]); }, {random({3, 5}, gen)}});
  c[OpKind::log_softmax].push_back({"log_softmax axis 1",
                                    [](auto& x) { return log_softmax(x[0], 1); },
                                    {random({2, 4, 3}, gen)}});

  // Losses, with every reduction.
  for (Reduction r : {Reduction::none, Reduction::mean, Reduction::sum}) {
    std::string tag = r == Reduction::none ? " none" : r == Reduction::mean ? " mean" : " sum";
    c[OpKind::pow_scalar].push_back({"mse" + tag,
                                     [r](auto& x) { return mse_loss(x[0], x[1], r); },
                                     {random({3, 4}, gen), random({3, 4}, gen)}});
    Tensor a = random({3, 4}, gen), b = Tensor::empty({3, 4}, true);
    // Keep |a - b| away from the kinks of l1 (0) and huber/smooth-l1 (±1, ±0.5).
    for (int64_t i = 0; i < a.numel(); ++i) {
      float d = 0;
      do d = gen.uniform(-2.5f, 2.5f);
      while (std::fabs(d) < 0.1f || std::fabs(std::fabs(d) - 1.0f) < 0.1f ||
             std::fabs(std::fabs(d) - 0.5f) < 0.1f);
      b.data()[i] = a.data()[i] - d;
    }
    c[OpKind::abs].push_back({"l1" + tag, [r](auto& x) { return l1_loss(x[0], x[1], r); }, {a, b}});
    c[OpKind::huber].push_back(
        {"huber" + tag, [r](auto& x) { return huber_loss(x[0], x[1], r, 1.0f); }, {a, b}});
    c[OpKind::smooth_l1].push_back(
        {"smooth_l1" + tag, [r](auto& x) { return smooth_l1_loss(x[0], x[1], r, 0.5f); }, {a, b}});
    c[OpKind::binary_cross_entropy].push_back(
        {"bce" + tag,
         [r](auto& x) { return binary_cross_entropy(x[0], x[1], r); },
         {random({3, 4}, gen, 0.1f, 0.9f), random({3, 4}, gen, 0.0f, 1.0f)}});
    c[OpKind::binary_cross_entropy_with_logits].push_back(
        {"bce_logits" + tag,
         [r](auto& x) { return binary_cross_entropy_with_logits(x[0], x[1], r); },
         {random({3, 4}, gen, -4, 4), random({3, 4}, gen, 0.0f, 1.0f)}});
    std::vector<int64_t> labels{0, 3, 1, 3, 2};
    c[OpKind::cross_entropy].push_back(
        {"cross_entropy" + tag,
         [r, labels](auto& x) { return cross_entropy(x[0], labels, r); },
         {random({5, 4}, gen, -3, 3)}});
    c[OpKind::nll_loss].push_back(
        {"nll" + tag,
         [r, labels](auto& x) { return nll_loss(log_softmax(x[0]), labels, r); },
         {random({5, 4}, gen, -3, 3)}});
  }
}

bp::testing::GradcheckRegistrar core_registrar(core_cases);

// The kinds of op recorded in the graph that produced `t`.
std::set<OpKind> recorded_kinds(const Tensor& t) {
  std::set<OpKind> kinds;
  std::vector<autograd::Node*> stack;
  if (t.grad_fn()) stack.push_back(t.grad_fn().get());
  while (!stack.empty()) {
    autograd::Node* n = stack.back();
    stack.pop_back();
    kinds.insert(n->kind);
    for (const Tensor& in : n->inputs)
      if (in.defined() && in.grad_fn()) stack.push_back(in.grad_fn().get());
  }
  return kinds;
}

TEST(GradcheckRegistry, EveryDifferentiableOpHasAGradientCheck) {
  auto cases = bp::testing::all_gradcheck_cases();
  for (OpKind kind : autograd::all_ops())
    EXPECT_FALSE(cases[kind].empty())
        << "op '" << autograd::op_name(kind)
        << "' has no gradient check (add one with BP_GRADCHECK_CASES)";
}

TEST(GradcheckOps, AnalyticMatchesNumericForEveryOp) {
  for (auto& [kind, list] : bp::testing::all_gradcheck_cases()) {
    for (Case& c : list) {
      SCOPED_TRACE(c.label);
      // The case must really exercise the op it is filed under.
      EXPECT_TRUE(recorded_kinds(c.fn(c.inputs)).count(kind))
          << "case does not record op '" << autograd::op_name(kind) << "'";
      GradcheckResult r = gradcheck(c.fn, c.inputs, c.options);
      EXPECT_TRUE(r.ok) << r.message;
    }
  }
}

// A sigmoid whose derivative is 5% too large: gradcheck must reject it.
Tensor wrong_sigmoid(const Tensor& x, float factor) {
  Tensor y = sigmoid(x.detach());
  Tensor dy = y.detach();
  return autograd::record(OpKind::sigmoid, y.detach().clone(), {x},
                          [dy, factor](const Tensor& gy) -> std::vector<Tensor> {
                            Tensor d = dy * (1.0f - dy) * factor;
                            return {gy * d};
                          });
}

TEST(Gradcheck, RejectsADerivativeOffByFivePercent) {
  Generator gen(3);
  for (int trial = 0; trial < 5; ++trial) {
    Tensor x = random({4, 3}, gen, -3, 3);
    GradcheckResult right = gradcheck([](auto& in) { return wrong_sigmoid(in[0], 1.0f); }, {x});
    EXPECT_TRUE(right.ok) << right.message;
    GradcheckResult wrong = gradcheck([](auto& in) { return wrong_sigmoid(in[0], 1.05f); }, {x});
    EXPECT_FALSE(wrong.ok) << "a 5% error in sigmoid' went unnoticed (max error "
                           << wrong.max_abs_error << ")";
  }
}

TEST(Gradcheck, RejectsBadArguments) {
  Tensor x = Tensor::ones({2});  // does not require a gradient
  bp::testing::expect_error([&] { gradcheck([](auto& in) { return in[0] * 2.0f; }, {x}); },
                            "no input requires a gradient");
  Tensor y = Tensor::ones({2}, true);
  bp::testing::expect_error([&] { gradcheck([](auto&) { return Tensor(); }, {y}); },
                            "undefined tensor");
  bp::testing::expect_error(
      [&] { gradcheck([](auto& in) { return in[0] * 2.0f; }, {y}, {.eps = 0}); }, "eps");
}

}  // namespace
}  // namespace bp
