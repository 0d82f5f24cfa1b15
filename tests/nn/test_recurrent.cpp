// RNN, LSTM, GRU and multi-head attention: gradient checks of whole modules (backpropagation
// through time), values and gradients against the unrolled composition of ops, forward values
// against the gate formulas, shapes, errors, spec layers, and a task that only a network with
// memory can learn.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace bp {
namespace {

using bp::testing::expect_error;

// Checks d/d(input) and d/d(every parameter) of `module` on `x` with central differences.
void expect_module_gradients(nn::Module& module, const Tensor& x, const std::string& label,
                             GradcheckOptions options = {}) {
  std::vector<Tensor> inputs{x};
  for (const Tensor& p : module.parameters()) inputs.push_back(p);
  GradcheckResult r = gradcheck(
      [&module](const std::vector<Tensor>& in) { return module.forward(in[0]); }, inputs, options);
  EXPECT_TRUE(r.ok) << label << ": " << r.message;
  int64_t total = 0;
  for (const Tensor& t : inputs) total += t.numel();
  EXPECT_EQ(r.checked, total) << label;
}

Tensor input(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return Tensor::uniform(shape, -1.0f, 1.0f, gen, true);
}

// ---- gradient checks (backpropagation through time) ----

TEST(RecurrentGradcheck, RNNTanhLastAndSequences) {
  Generator gen(11);
  for (bool sequences : {false, true}) {
    nn::RNN rnn({.input = 3, .hidden = 4, .sequences = sequences}, gen);
    expect_module_gradients(rnn, input({2, 4, 3}, 1), sequences ? "rnn seq" : "rnn last");
  }
}

TEST(RecurrentGradcheck, RNNReluTwoLayers) {
  Generator gen(12);
  nn::RNN rnn({.input = 2,
               .hidden = 3,
               .layers = 2,
               .sequences = true,
               .nonlinearity = nn::RNNNonlinearity::relu},
              gen);
  // A smaller step keeps the differences from straddling relu's kink.
  GradcheckOptions options;
  options.eps = 1e-3f;
  options.atol = 2e-3;
  expect_module_gradients(rnn, input({2, 3, 2}, 2), "rnn relu 2 layers", options);
}

TEST(RecurrentGradcheck, LSTMLastAndSequences) {
  Generator gen(13);
  for (bool sequences : {false, true}) {
    nn::LSTM lstm({.input = 3, .hidden = 4, .sequences = sequences}, gen);
    expect_module_gradients(lstm, input({2, 4, 3}, 3), sequences ? "lstm seq" : "lstm last");
  }
}

TEST(RecurrentGradcheck, LSTMTwoLayerStack) {
  Generator gen(14);
  for (bool sequences : {false, true}) {
    nn::LSTM lstm({.input = 2, .hidden = 3, .layers = 2, .sequences = sequences}, gen);
    expect_module_gradients(lstm, input({2, 3, 2}, 4),
                            sequences ? "lstm 2 layers seq" : "lstm 2 layers last");
  }
}

TEST(RecurrentGradcheck, GRULastAndSequences) {
  Generator gen(15);
  for (bool sequences : {false, true}) {
    nn::GRU gru({.input = 3, .hidden = 4, .sequences = sequences}, gen);
    expect_module_gradients(gru, input({2, 4, 3}, 5), sequences ? "gru seq" : "gru last");
  }
}

TEST(RecurrentGradcheck, GRUTwoLayerStack) {
  Generator gen(16);
  for (bool sequences : {false, true}) {
    nn::GRU gru({.input = 2, .hidden = 3, .layers = 2, .sequences = sequences}, gen);
    expect_module_gradients(gru, input({2, 3, 2}, 6),
                            sequences ? "gru 2 layers seq" : "gru 2 layers last");
  }
}

TEST(RecurrentGradcheck, Attention) {
  Generator gen(17);
  for (bool causal : {false, true}) {
    nn::MultiheadAttention attention({.dim = 4, .heads = 2, .causal = causal}, gen);
    // Non-zero biases, so that their gradients are checked away from the initial point.
    for (Tensor& p : attention.parameters())
      for (float& v : p.values()) v += gen.uniform(-0.3f, 0.3f);
    expect_module_gradients(attention, input({2, 3, 4}, 7), causal ? "causal" : "attention");
  }
}

TEST(RecurrentGradcheck, SingleHeadLongerSequence) {
  Generator gen(18);
  nn::MultiheadAttention attention({.dim = 3, .heads = 1, .causal = true}, gen);
  expect_module_gradients(attention, input({1, 4, 3}, 8), "attention 1 head");
}

// ---- causal attention: no information flows backwards in time ----

// Gradient of the output at position t (only) with respect to the input.
Tensor input_gradient_from(nn::MultiheadAttention& attention, const Tensor& x, int64_t t) {
  Tensor xi = x.detach().clone().set_requires_grad(true);
  Tensor y = attention.forward(xi);
  Tensor upstream = Tensor::zeros(y.shape());
  for (int64_t b = 0; b < y.size(0); ++b)
    for (int64_t e = 0; e < y.size(2); ++e) upstream.at({b, t, e}) = 1.0f + static_cast<float>(e);
  y.backward(upstream);
  return xi.grad();
}

TEST(CausalAttention, GradientBeyondPositionIsExactlyZero) {
  Generator gen(21);
  nn::MultiheadAttention attention({.dim = 6, .heads = 3, .causal = true}, gen);
  const int64_t seq = 5;
  Tensor x = Tensor::uniform({2, seq, 6}, -1.0f, 1.0f, gen);
  for (int64_t t = 0; t < seq; ++t) {
    Tensor g = input_gradient_from(attention, x, t);
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t s = 0; s < seq; ++s) {
        float norm = 0;
        for (int64_t e = 0; e < 6; ++e) norm += std::fabs(g.at({b, s, e}));
        if (s > t)
          EXPECT_EQ(norm, 0.0f) << "output " << t << " reached input " << s;
        else
          EXPECT_GT(norm, 0.0f) << "output " << t << " ignores input " << s;
      }
  }
}

TEST(CausalAttention, ChangingLaterInputsLeavesEarlierOutputs) {
  Generator gen(22);
  nn::MultiheadAttention attention({.dim = 4, .heads = 2, .causal = true}, gen);
  Tensor x = Tensor::uniform({1, 4, 4}, -1.0f, 1.0f, gen);
  Tensor y = attention.forward(x);
  Tensor x2 = x.clone();
  for (int64_t e = 0; e < 4; ++e) x2.at({0, 3, e}) += 5.0f;
  Tensor y2 = attention.forward(x2);
  for (int64_t t = 0; t < 3; ++t)
    for (int64_t e = 0; e < 4; ++e) EXPECT_EQ(y.at({0, t, e}), y2.at({0, t, e}));
  EXPECT_NE(y.at({0, 3, 0}), y2.at({0, 3, 0}));
}

TEST(CausalAttention, WithoutMaskLaterInputsMatter) {
  Generator gen(23);
  nn::MultiheadAttention attention({.dim = 4, .heads = 2}, gen);
  Tensor x = Tensor::uniform({1, 4, 4}, -1.0f, 1.0f, gen);
  Tensor g = input_gradient_from(attention, x, 0);
  float norm = 0;
  for (int64_t e = 0; e < 4; ++e) norm += std::fabs(g.at({0, 3, e}));
  EXPECT_GT(norm, 0.0f);
}

TEST(CausalAttention, MaskHoldsMinusOneBillionAboveTheDiagonal) {
  const Tensor m = nn::causal_mask(3);
  ASSERT_EQ(m.shape(), (Shape{3, 3}));
  for (int64_t q = 0; q < 3; ++q)
    for (int64_t k = 0; k < 3; ++k) EXPECT_EQ(m.at({q, k}), k > q ? -1e9f : 0.0f) << q << k;
  expect_error([] { nn::causal_mask(0); }, "causal_mask: seq must be positive, got 0");
}

TEST(Attention, InitialisedAsPyTorchDoes) {
  Generator gen(3);
  nn::MultiheadAttention attn({.dim = 48, .heads = 4}, gen);
  auto largest = [](const Tensor& t) {
    float m = 0;
    for (float v : t.values()) m = std::max(m, std::fabs(v));
    return m;
  };
  // q, k, v: Xavier-uniform over the (3·48, 48) stack, U(±√(6/192)); out_proj: U(±1/√48).
  for (const char* name : {"q_proj.weight", "k_proj.weight", "v_proj.weight", "out_proj.weight"}) {
    const float bound =
        std::string(name) == "out_proj.weight" ? 1.0f / std::sqrt(48.0f) : std::sqrt(6.0f / 192.0f);
    Tensor w;
    for (auto& [n, t] : attn.named_parameters())
      if (n == name) w = t;
    ASSERT_TRUE(w.defined()) << name;
    EXPECT_LE(largest(w), bound) << name;
    EXPECT_GT(largest(w), 0.98f * bound) << name;  // 2304 draws come that close
  }
  for (auto& [n, t] : attn.named_parameters()) {
    if (n.ends_with(".bias")) {
      EXPECT_EQ(largest(t), 0.0f) << n;
    }
  }
}

// ---- the layers against the unrolled composition of ops ----

// A stack of `module`'s layers unrolled over time from differentiable ops (linear, slice, sigmoid,
// tanh, mul, add, concat), the way the layers were first written: an independent oracle for the
// fused op's forward and backward.
Tensor unrolled(nn::RecurrentBase& module, RecurrentCell cell, const Tensor& input) {
  const int64_t batch = input.size(0), steps = input.size(1), h = module.hidden_size();
  Tensor x = input;
  for (int64_t l = 0; l < module.num_layers(); ++l) {
    Tensor projection = linear(x, module.weight_ih(l), module.bias_ih(l));
    Tensor state = Tensor::zeros({batch, h}), c = Tensor::zeros({batch, h});
    std::vector<Tensor> hidden;
    for (int64_t t = 0; t < steps; ++t) {
      Tensor xp = reshape(slice(projection, 1, t, t + 1), {batch, projection.size(2)});
      Tensor hp = linear(state, module.weight_hh(l), module.bias_hh(l));
      auto block = [h](const Tensor& p, int64_t k) { return slice(p, 1, k * h, (k + 1) * h); };
      if (cell == RecurrentCell::lstm) {
        Tensor gates = add(xp, hp);
        c = add(mul(sigmoid(block(gates, 1)), c),
                mul(sigmoid(block(gates, 0)), tanh(block(gates, 2))));
        state = mul(sigmoid(block(gates, 3)), tanh(c));
      } else if (cell == RecurrentCell::gru) {
        Tensor r = sigmoid(add(block(xp, 0), block(hp, 0)));
        Tensor z = sigmoid(add(block(xp, 1), block(hp, 1)));
        Tensor n = tanh(add(block(xp, 2), mul(r, block(hp, 2))));
        state = add(n, mul(z, sub(state, n)));
      } else {
        Tensor pre = add(xp, hp);
        state = cell == RecurrentCell::rnn_relu ? relu(pre) : tanh(pre);
      }
      hidden.push_back(reshape(state, {batch, 1, h}));
    }
    if (l + 1 == module.num_layers() && !module.return_sequences()) return state;
    x = concat(hidden, 1);
  }
  return x;
}

// Output, input gradient and every parameter's gradient of `module` on x, through its forward()
// or through the unrolled oracle.
std::vector<Tensor> outputs_and_gradients(nn::RecurrentBase& module, RecurrentCell cell,
                                          const Tensor& x, bool oracle) {
  module.zero_grad();
  Tensor xi = x.detach().clone().set_requires_grad(true);
  Tensor y = oracle ? unrolled(module, cell, xi) : module.forward(xi);
  Generator gen(5);
  y.backward(Tensor::uniform(y.shape(), -1.0f, 1.0f, gen));
  std::vector<Tensor> out{y.detach(), xi.grad()};
  for (const Tensor& p : module.parameters()) out.push_back(p.grad().clone());
  return out;
}

// Both backends, every cell, one and two layers, sequences on and off: the same values and
// gradients as the unrolled graph within float rounding (2e-5 + 1e-4 relative).
TEST(RecurrentOracle, LayersMatchTheUnrolledComposition) {
  Generator gen(19);
  const std::pair<RecurrentCell, const char*> cells[] = {{RecurrentCell::rnn_tanh, "rnn tanh"},
                                                         {RecurrentCell::rnn_relu, "rnn relu"},
                                                         {RecurrentCell::lstm, "lstm"},
                                                         {RecurrentCell::gru, "gru"}};
  for (Backend backend : {Backend::fast, Backend::reference})
    for (const auto& [cell, name] : cells)
      for (int64_t layers : {1, 2})
        for (bool sequences : {false, true}) {
          SCOPED_TRACE(fmt::format("{} layers={} sequences={} backend={}", name, layers, sequences,
                                   backend == Backend::fast ? "fast" : "reference"));
          std::unique_ptr<nn::RecurrentBase> module;
          nn::RecurrentOptions options{
              .input = 5, .hidden = 8, .layers = layers, .sequences = sequences};
          if (cell == RecurrentCell::lstm)
            module = std::make_unique<nn::LSTM>(options, gen);
          else if (cell == RecurrentCell::gru)
            module = std::make_unique<nn::GRU>(options, gen);
          else {
            if (cell == RecurrentCell::rnn_relu) options.nonlinearity = nn::RNNNonlinearity::relu;
            module = std::make_unique<nn::RNN>(options, gen);
          }
          Tensor x = Tensor::uniform({3, 6, 5}, -1.0f, 1.0f, gen);
          set_backend(backend);
          std::vector<Tensor> got = outputs_and_gradients(*module, cell, x, false);
          std::vector<Tensor> want = outputs_and_gradients(*module, cell, x, true);
          set_backend(Backend::fast);
          ASSERT_EQ(got.size(), want.size());
          for (size_t i = 0; i < got.size(); ++i) {
            ASSERT_EQ(got[i].shape(), want[i].shape()) << "tensor " << i;
            for (int64_t j = 0; j < got[i].numel(); ++j)
              ASSERT_NEAR(got[i].data()[j], want[i].data()[j],
                          2e-5 + 1e-4 * std::fabs(want[i].data()[j]))
                  << "tensor " << i << " (0 output, 1 input, then parameters) at " << j;
          }
        }
}

// ---- forward values against the formulas ----

float sigmoid_f(float v) {
  return 1.0f / (1.0f + std::exp(-v));
}

// Row r of W·x + b for a (rows, n) weight.
float affine(const Tensor& w, const Tensor& b, const std::vector<float>& x, int64_t r) {
  float s = b.data()[r];
  for (size_t j = 0; j < x.size(); ++j) s += w.at({r, static_cast<int64_t>(j)}) * x[j];
  return s;
}

TEST(RecurrentValues, LSTMStepsMatchGateFormulas) {
  Generator gen(31);
  const int64_t in = 3, hidden = 2, steps = 2;
  nn::LSTM lstm({.input = in, .hidden = hidden, .sequences = true}, gen);
  Tensor x = Tensor::uniform({1, steps, in}, -1.0f, 1.0f, gen);
  Tensor y = lstm.forward(x);
  ASSERT_EQ(y.shape(), (Shape{1, steps, hidden}));
  std::vector<float> h(hidden, 0.0f), c(hidden, 0.0f);
  for (int64_t t = 0; t < steps; ++t) {
    std::vector<float> xt;
    for (int64_t j = 0; j < in; ++j) xt.push_back(x.at({0, t, j}));
    auto gate = [&](int64_t block, int64_t k) {
      return affine(lstm.weight_ih(0), lstm.bias_ih(0), xt, block * hidden + k) +
             affine(lstm.weight_hh(0), lstm.bias_hh(0), h, block * hidden + k);
    };
    std::vector<float> nh(hidden), nc(hidden);
    for (int64_t k = 0; k < hidden; ++k) {
      float i = sigmoid_f(gate(0, k)), f = sigmoid_f(gate(1, k)), g = std::tanh(gate(2, k)),
            o = sigmoid_f(gate(3, k));
      nc[k] = f * c[k] + i * g;
      nh[k] = o * std::tanh(nc[k]);
    }
    h = nh;
    c = nc;
    for (int64_t k = 0; k < hidden; ++k) EXPECT_NEAR(y.at({0, t, k}), h[k], 1e-5f);
  }
}

TEST(RecurrentValues, GRUStepsMatchGateFormulas) {
  Generator gen(32);
  const int64_t in = 2, hidden = 3, steps = 2;
  nn::GRU gru({.input = in, .hidden = hidden, .sequences = true}, gen);
  Tensor x = Tensor::uniform({1, steps, in}, -1.0f, 1.0f, gen);
  Tensor y = gru.forward(x);
  std::vector<float> h(hidden, 0.0f);
  for (int64_t t = 0; t < steps; ++t) {
    std::vector<float> xt;
    for (int64_t j = 0; j < in; ++j) xt.push_back(x.at({0, t, j}));
    std::vector<float> nh(hidden);
    for (int64_t k = 0; k < hidden; ++k) {
      auto gi = [&](int64_t b) {
        return affine(gru.weight_ih(0), gru.bias_ih(0), xt, b * hidden + k);
      };
      auto gh = [&](int64_t b) {
        return affine(gru.weight_hh(0), gru.bias_hh(0), h, b * hidden + k);
      };
      float r = sigmoid_f(gi(0) + gh(0)), z = sigmoid_f(gi(1) + gh(1));
      float n = std::tanh(gi(2) + r * gh(2));
      nh[k] = (1 - z) * n + z * h[k];
    }
    h = nh;
    for (int64_t k = 0; k < hidden; ++k) EXPECT_NEAR(y.at({0, t, k}), h[k], 1e-5f);
  }
}

TEST(RecurrentValues, RNNReluAndLastState) {
  Generator gen(33);
  nn::RNN rnn({.input = 2, .hidden = 3, .nonlinearity = nn::RNNNonlinearity::relu}, gen);
  Tensor x = Tensor::uniform({1, 3, 2}, -1.0f, 1.0f, gen);
  Tensor y = rnn.forward(x);
  ASSERT_EQ(y.shape(), (Shape{1, 3}));
  std::vector<float> h(3, 0.0f);
  for (int64_t t = 0; t < 3; ++t) {
    std::vector<float> xt{x.at({0, t, 0}), x.at({0, t, 1})};
    std::vector<float> nh(3);
    for (int64_t k = 0; k < 3; ++k)
      nh[k] = std::max(0.0f, affine(rnn.weight_ih(0), rnn.bias_ih(0), xt, k) +
                                 affine(rnn.weight_hh(0), rnn.bias_hh(0), h, k));
    h = nh;
  }
  for (int64_t k = 0; k < 3; ++k) EXPECT_NEAR(y.at({0, k}), h[k], 1e-5f);
}

TEST(RecurrentValues, LastStateEqualsLastOfSequence) {
  Generator a(34), b(34);
  nn::GRU last({.input = 3, .hidden = 4, .layers = 2}, a);
  nn::GRU all({.input = 3, .hidden = 4, .layers = 2, .sequences = true}, b);
  Generator gen(35);
  Tensor x = Tensor::uniform({2, 5, 3}, -1.0f, 1.0f, gen);
  Tensor y_last = last.forward(x);
  Tensor y_all = all.forward(x);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t k = 0; k < 4; ++k) EXPECT_EQ(y_last.at({n, k}), y_all.at({n, 4, k}));
}

TEST(RecurrentValues, AttentionMatchesFormulaOneHead) {
  Generator gen(36);
  nn::MultiheadAttention attention({.dim = 2, .heads = 1}, gen);
  Tensor x = Tensor::uniform({1, 3, 2}, -1.0f, 1.0f, gen);
  Tensor y = attention.forward(x);
  auto proj = [&](nn::Linear& l, int64_t t) {
    std::vector<float> xt{x.at({0, t, 0}), x.at({0, t, 1})};
    return std::vector<float>{affine(l.weight(), l.bias(), xt, 0),
                              affine(l.weight(), l.bias(), xt, 1)};
  };
  for (int64_t t = 0; t < 3; ++t) {
    auto q = proj(attention.q_proj(), t);
    std::vector<float> w(3);
    float total = 0;
    for (int64_t s = 0; s < 3; ++s) {
      auto k = proj(attention.k_proj(), s);
      w[s] = std::exp((q[0] * k[0] + q[1] * k[1]) / std::sqrt(2.0f));
      total += w[s];
    }
    std::vector<float> context(2, 0.0f);
    for (int64_t s = 0; s < 3; ++s) {
      auto v = proj(attention.v_proj(), s);
      for (int j = 0; j < 2; ++j) context[j] += w[s] / total * v[j];
    }
    for (int64_t j = 0; j < 2; ++j)
      EXPECT_NEAR(y.at({0, t, j}),
                  affine(attention.out_proj().weight(), attention.out_proj().bias(), context, j),
                  1e-5f);
  }
}

// ---- shapes, parameters, initialisation ----

TEST(RecurrentShapes, OutputsAndParameters) {
  Generator gen(41);
  nn::LSTM lstm({.input = 5, .hidden = 7, .layers = 2}, gen);
  EXPECT_EQ(lstm.forward(Tensor::zeros({3, 4, 5})).shape(), (Shape{3, 7}));
  EXPECT_EQ(lstm.output_shape({4, 5}), (Shape{7}));
  auto named = lstm.named_parameters();
  ASSERT_EQ(named.size(), 8u);
  EXPECT_EQ(named[0].first, "weight_ih_l0");
  EXPECT_EQ(named[0].second.shape(), (Shape{28, 5}));
  EXPECT_EQ(named[1].first, "weight_hh_l0");
  EXPECT_EQ(named[1].second.shape(), (Shape{28, 7}));
  EXPECT_EQ(named[2].first, "bias_ih_l0");
  EXPECT_EQ(named[3].first, "bias_hh_l0");
  EXPECT_EQ(named[4].first, "weight_ih_l1");
  EXPECT_EQ(named[4].second.shape(), (Shape{28, 7}));
  EXPECT_TRUE(named[4].second.is_same(lstm.weight_ih(1)));
  EXPECT_EQ(lstm.parameter_count(), 4 * 7 * (5 + 7 + 2) + 4 * 7 * (7 + 7 + 2));
  EXPECT_EQ(lstm.name(), "LSTM(5, 7, layers=2)");

  nn::GRU gru({.input = 5, .hidden = 6, .sequences = true}, gen);
  EXPECT_EQ(gru.forward(Tensor::zeros({2, 3, 5})).shape(), (Shape{2, 3, 6}));
  EXPECT_EQ(gru.output_shape({3, 5}), (Shape{3, 6}));
  EXPECT_EQ(gru.weight_hh(0).shape(), (Shape{18, 6}));
  EXPECT_EQ(gru.name(), "GRU(5, 6, sequences=true)");

  nn::RNN rnn({.input = 2, .hidden = 3, .nonlinearity = nn::RNNNonlinearity::relu}, gen);
  EXPECT_EQ(rnn.weight_ih(0).shape(), (Shape{3, 2}));
  EXPECT_EQ(rnn.name(), "RNN(2, 3, nonlinearity=relu)");

  nn::MultiheadAttention attention({.dim = 8, .heads = 2, .causal = true}, gen);
  EXPECT_EQ(attention.forward(Tensor::zeros({2, 5, 8})).shape(), (Shape{2, 5, 8}));
  EXPECT_EQ(attention.output_shape({5, 8}), (Shape{5, 8}));
  EXPECT_EQ(attention.parameter_count(), 4 * (8 * 8 + 8));
  EXPECT_EQ(attention.named_parameters()[0].first, "q_proj.weight");
  EXPECT_EQ(attention.name(), "MultiheadAttention(8, heads=2, causal=true)");
}

TEST(RecurrentShapes, InitialisationBound) {
  Generator gen(42);
  nn::LSTM lstm({.input = 10, .hidden = 16}, gen);
  const float bound = 1.0f / 4.0f;
  for (const Tensor& p : lstm.parameters()) {
    float lo = 1, hi = -1;
    for (float v : p.values()) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    EXPECT_GE(lo, -bound);
    EXPECT_LE(hi, bound);
    EXPECT_LT(lo, -0.8f * bound);  // the whole range is used
    EXPECT_GT(hi, 0.8f * bound);
  }
  nn::MultiheadAttention attention({.dim = 4, .heads = 2}, gen);
  for (float v : attention.q_proj().bias().values()) EXPECT_EQ(v, 0.0f);
}

TEST(RecurrentShapes, Errors) {
  Generator gen(43);
  expect_error([&] { nn::LSTM(nn::RecurrentOptions{.input = 0, .hidden = 3}, gen); },
               "LSTM: input, hidden and layers must be positive");
  expect_error([&] { nn::GRU(nn::RecurrentOptions{.input = 2, .hidden = 3, .layers = 0}, gen); },
               "and layers must be positive (got 2, 3, 0)");
  expect_error([&] { nn::MultiheadAttention(nn::AttentionOptions{.dim = 6, .heads = 4}, gen); },
               "not divisible by heads 4");
  expect_error([&] { nn::MultiheadAttention(nn::AttentionOptions{.dim = 6, .heads = 0}, gen); },
               "must be positive");
  nn::LSTM lstm({.input = 3, .hidden = 4}, gen);
  expect_error([&] { lstm.forward(Tensor::zeros({4, 3})); }, "LSTM: expects input of shape");
  expect_error([&] { lstm.forward(Tensor::zeros({2, 4, 5})); }, "(batch, seq, 3)");
  expect_error([&] { lstm.forward(Tensor::zeros({2, 0, 3})); }, "seq >= 1");
  expect_error([&] { lstm.output_shape({3}); }, "LSTM: expects samples of shape (seq, 3)");
  expect_error([&] { lstm.weight_ih(1); }, "layer 1 out of range");
  nn::MultiheadAttention attention({.dim = 4, .heads = 2}, gen);
  expect_error(
      [&] {
        attention.forward(Tensor::zeros({2, 3, 5}));
      },
      "MultiheadAttention: expects input of shape (batch, seq, 4)");
  expect_error([&] { attention.forward(Tensor::zeros({3, 4})); }, "got [3, 4]");
}

// ---- model specs ----

TEST(RecurrentSpec, BuildsLayers) {
  Generator gen(51);
  auto model = nn::build_model(nn::parse_model_spec("lstm(8),dense(1)"), {10, 3}, gen);
  EXPECT_EQ(model->output_shape({10, 3}), (Shape{1}));
  EXPECT_EQ((*model)[0].name(), "LSTM(3, 8)");
  EXPECT_EQ(model->forward(Tensor::zeros({2, 10, 3})).shape(), (Shape{2, 1}));

  model = nn::build_model(
      nn::parse_model_spec("gru(4, layers=2, sequences=true),attention(2, causal=true),"
                           "rnn(3, nonlinearity=relu)"),
      {5, 2}, gen);
  EXPECT_EQ((*model)[0].name(), "GRU(2, 4, layers=2, sequences=true)");
  EXPECT_EQ((*model)[1].name(), "MultiheadAttention(4, heads=2, causal=true)");
  EXPECT_EQ((*model)[2].name(), "RNN(4, 3, nonlinearity=relu)");
  EXPECT_EQ(model->output_shape({5, 2}), (Shape{3}));
  EXPECT_EQ(model->forward(Tensor::zeros({2, 5, 2})).shape(), (Shape{2, 3}));

  model = nn::build_model(nn::parse_model_spec("rnn(6, 1, true, tanh)"), {4, 2}, gen);
  EXPECT_EQ(model->output_shape({4, 2}), (Shape{4, 6}));
}

TEST(RecurrentSpec, ParameterBudget) {
  Generator gen(52);
  const auto layers = nn::parse_model_spec("lstm(8, layers=2)");
  auto model = nn::build_model(layers, {10, 3}, gen);
  const int64_t needed = model->parameter_count();
  EXPECT_NO_THROW(nn::build_model(layers, {10, 3}, gen, needed));
  expect_error([&] { nn::build_model(layers, {10, 3}, gen, needed - 1); }, "parameters");
  const auto att = nn::parse_model_spec("attention(2)");
  EXPECT_NO_THROW(nn::build_model(att, {3, 4}, gen, 4 * (16 + 4)));
  expect_error([&] { nn::build_model(att, {3, 4}, gen, 4 * (16 + 4) - 1); }, "parameters");
}

TEST(RecurrentSpec, Errors) {
  Generator gen(53);
  expect_error([&] { nn::build_model(nn::parse_model_spec("lstm(4)"), {12}, gen); },
               "layer 1 'lstm' (column 1): expects samples of shape (seq, features), got [12]");
  expect_error(
      [&] {
        nn::build_model(nn::parse_model_spec("gru(4)"), {2, 3, 4}, gen);
      },
      "expects samples of shape (seq, features)");
  expect_error(
      [&] {
        nn::build_model(nn::parse_model_spec("flatten,attention(2)"), {3, 4}, gen);
      },
      "layer 2 'attention' (column 9): expects samples of shape (seq, embed)");
  expect_error(
      [&] {
        nn::build_model(nn::parse_model_spec("attention(3)"), {3, 4}, gen);
      },
      "embed dimension 4 is not divisible by heads=3");
  expect_error([&] { nn::parse_model_spec("rnn(4, nonlinearity=sigmoid)"); },
               "argument 'nonlinearity' must be one of tanh, relu, got 'sigmoid'");
  expect_error([&] { nn::parse_model_spec("lstm(4, nonlinearity=relu)"); },
               "unknown argument 'nonlinearity'");
  expect_error([&] { nn::parse_model_spec("lstm"); }, "missing argument 'hidden'");
  expect_error([&] { nn::parse_model_spec("gru(4, layers=0)"); }, "positive integer");
  expect_error([&] { nn::parse_model_spec("attention(2, causal=maybe)"); }, "true or false");
}

// ---- a task that needs memory ----

// Adam on every parameter (kept local so this test depends only on the modules under test).
class Adam {
 public:
  Adam(std::vector<Tensor> params, float lr) : params_(std::move(params)), lr_(lr) {
    for (const Tensor& p : params_) {
      m_.push_back(Tensor::zeros(p.shape()));
      v_.push_back(Tensor::zeros(p.shape()));
    }
  }
  void step() {
    ++t_;
    const float c1 = 1.0f - std::pow(0.9f, static_cast<float>(t_));
    const float c2 = 1.0f - std::pow(0.999f, static_cast<float>(t_));
    for (size_t i = 0; i < params_.size(); ++i) {
      Tensor g = params_[i].grad();
      if (!g.defined()) continue;
      float* p = params_[i].data();
      float* m = m_[i].data();
      float* v = v_[i].data();
      for (int64_t j = 0; j < params_[i].numel(); ++j) {
        const float gj = g.data()[j];
        m[j] = 0.9f * m[j] + 0.1f * gj;
        v[j] = 0.999f * v[j] + 0.001f * gj * gj;
        p[j] -= lr_ * (m[j] / c1) / (std::sqrt(v[j] / c2) + 1e-8f);
      }
      params_[i].zero_grad();
    }
  }

 private:
  std::vector<Tensor> params_, m_, v_;
  float lr_;
  int t_ = 0;
};

constexpr int64_t kSteps = 10;  // sequence length

// Sequences of kSteps uniform values in [-1, 1]; the target is the first value, which the
// network sees only at the first step.
struct Batch {
  Tensor x;  // (n, kSteps, 1)
  Tensor y;  // (n, 1)
};
Batch recall_first_batch(int64_t n, Generator& gen) {
  Batch b{Tensor::uniform({n, kSteps, 1}, -1.0f, 1.0f, gen), Tensor::empty({n, 1})};
  for (int64_t i = 0; i < n; ++i) b.y.data()[i] = b.x.data()[i * kSteps];
  return b;
}

// Trains `model` on `view(x)` for `iterations` batches of 32 and returns the test MSE.
double train_recall(nn::Module& model, const std::function<Tensor(const Tensor&)>& view,
                    int iterations, float lr, uint64_t seed) {
  Generator data(seed);
  Adam adam(model.parameters(), lr);
  for (int it = 0; it < iterations; ++it) {
    Batch b = recall_first_batch(32, data);
    Tensor loss = mse_loss(model.forward(view(b.x)), b.y);
    loss.backward();
    adam.step();
  }
  Generator test_data(seed + 1000);
  Batch test = recall_first_batch(512, test_data);
  NoGradGuard no_grad;
  return mse_loss(model.forward(view(test.x)), test.y).item();
}

TEST(RecurrentMemory, LSTMRecallsTheFirstValueAFeedForwardNetCannot) {
  const auto start = std::chrono::steady_clock::now();
  // The target's variance is 1/3: predicting 0 scores 0.333.
  Generator gen(61);
  auto lstm = std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::LSTM>(nn::RecurrentOptions{.input = 1, .hidden = 24}, gen),
      std::make_shared<nn::Linear>(24, 1, gen)});
  const double lstm_mse = train_recall(
      *lstm, [](const Tensor& x) { return x; }, 700, 0.01f, 7);

  // The same training for an MLP that sees the last 8 steps (all but the first two): however well
  // it fits them, they carry no information about the target.
  auto window = [](const Tensor& x) { return flatten(slice(x, 1, kSteps - 8, kSteps), 1); };
  nn::Sequential mlp({std::make_shared<nn::Linear>(8, 32, gen), std::make_shared<nn::Tanh>(),
                      std::make_shared<nn::Linear>(32, 1, gen)});
  const double mlp_mse = train_recall(mlp, window, 700, 0.01f, 7);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  RecordProperty("lstm_mse", std::to_string(lstm_mse));
  RecordProperty("mlp_mse", std::to_string(mlp_mse));
  std::printf("recall-first (seq %lld): LSTM test MSE %.4f, windowed MLP %.4f, %.2f s\n",
              static_cast<long long>(kSteps), lstm_mse, mlp_mse, seconds);
  EXPECT_LT(lstm_mse, 0.02);
  EXPECT_GT(mlp_mse, 0.28);
}

}  // namespace
}  // namespace bp
