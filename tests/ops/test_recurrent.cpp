// The recurrent layer op (bp::recurrent): gradient checks of every cell (every parameter and the
// input, sequences on and off, stacked layers) and every error path. The fast kernels are compared
// with the reference in tests/kernels/test_recurrent_fast_vs_reference.cpp, the layers with the
// unrolled composition of ops in tests/nn/test_recurrent.cpp.
#include <cmath>

#include "gradcheck_cases.hpp"
#include "test_util.hpp"

namespace bp {
namespace {

using autograd::OpKind;
using bp::testing::expect_error;
using bp::testing::random;

struct CellCase {
  RecurrentCell cell;
  OpKind kind;
  int64_t gates;
  const char* name;
};
constexpr CellCase kCells[] = {{RecurrentCell::rnn_tanh, OpKind::rnn, 1, "rnn tanh"},
                               {RecurrentCell::rnn_relu, OpKind::rnn, 1, "rnn relu"},
                               {RecurrentCell::lstm, OpKind::lstm, 4, "lstm"},
                               {RecurrentCell::gru, OpKind::gru, 3, "gru"}};

// x (batch, steps, input) and the four parameters of a layer, as leaves.
std::vector<Tensor> layer_inputs(const CellCase& c, int64_t batch, int64_t steps, int64_t input,
                                 int64_t hidden, Generator& gen) {
  const int64_t rows = c.gates * hidden;
  return {random({batch, steps, input}, gen, -1, 1), random({rows, input}, gen, -0.8f, 0.8f),
          random({rows, hidden}, gen, -0.8f, 0.8f), random({rows}, gen, -0.5f, 0.5f),
          random({rows}, gen, -0.5f, 0.5f)};
}

auto layer(RecurrentCell cell, bool sequences) {
  return [cell, sequences](const std::vector<Tensor>& in) {
    return recurrent(cell, in[0], in[1], in[2], in[3], in[4], sequences);
  };
}

// ---- gradient checks ----

BP_GRADCHECK_CASES(cases) {
  Generator gen(71);
  for (const CellCase& c : kCells)
    for (bool sequences : {false, true}) {
      GradcheckOptions options;
      if (c.cell == RecurrentCell::rnn_relu) {
        // A smaller step keeps the differences from straddling relu's kink.
        options.eps = 1e-3f;
        options.atol = 2e-3;
      }
      cases[c.kind].push_back({fmt::format("{} {}", c.name, sequences ? "sequences" : "last"),
                               layer(c.cell, sequences), layer_inputs(c, 2, 4, 3, 3, gen),
                               options});
    }
  // One step (no recurrence: W_hh gets no gradient) and one row.
  cases[OpKind::lstm].push_back({"lstm one step", layer(RecurrentCell::lstm, true),
                                 layer_inputs(kCells[2], 3, 1, 2, 2, gen)});
  cases[OpKind::gru].push_back(
      {"gru one row", layer(RecurrentCell::gru, false), layer_inputs(kCells[3], 1, 5, 2, 3, gen)});
}

// Layers stacked as the modules stack them: the second layer's input gradient is the first's
// output gradient.
TEST(RecurrentOp, GradcheckTwoLayerStacks) {
  Generator gen(72);
  for (const CellCase& c : {kCells[0], kCells[2], kCells[3]}) {
    SCOPED_TRACE(c.name);
    std::vector<Tensor> in = layer_inputs(c, 2, 3, 2, 3, gen);
    std::vector<Tensor> upper = layer_inputs(c, 1, 1, 3, 3, gen);
    in.insert(in.end(), upper.begin() + 1, upper.end());
    auto stack = [&c](const std::vector<Tensor>& x) {
      Tensor h = recurrent(c.cell, x[0], x[1], x[2], x[3], x[4], true);
      return recurrent(c.cell, h, x[5], x[6], x[7], x[8], false);
    };
    GradcheckResult r = gradcheck(stack, in);
    EXPECT_TRUE(r.ok) << r.message;
  }
}

// ---- errors ----

TEST(RecurrentOp, Errors) {
  Generator gen(74);
  std::vector<Tensor> in = layer_inputs(kCells[2], 2, 3, 4, 5, gen);
  auto call = [&](const Tensor& x, const Tensor& w_ih, const Tensor& w_hh, const Tensor& b) {
    return recurrent(RecurrentCell::lstm, x, w_ih, w_hh, b, in[4], true);
  };
  expect_error([&] { call(Tensor(), in[1], in[2], in[3]); }, "lstm: the input tensor is undefined");
  expect_error([&] { call(in[0], in[1], in[2], Tensor()); }, "lstm: the b_ih tensor is undefined");
  expect_error(
      [&] {
        call(Tensor::zeros({2, 4}), in[1], in[2], in[3]);
      },
      "lstm: x must be (batch, steps, input) with at least one step, got [2, 4]");
  expect_error([&] { call(Tensor::zeros({2, 0, 4}), in[1], in[2], in[3]); }, "at least one step");
  expect_error([&] { call(in[0], in[1], Tensor::zeros({20}), in[3]); }, "w_hh must be 2-D");
  expect_error(
      [&] {
        call(in[0], in[1], Tensor::zeros({15, 5}), in[3]);
      },
      "lstm: w_hh must have shape [20, 5] (hidden 5, input 4), got [15, 5]");
  expect_error(
      [&] {
        call(in[0], Tensor::zeros({20, 3}), in[2], in[3]);
      },
      "w_ih must have shape [20, 4]");
  expect_error([&] { call(in[0], in[1], in[2], Tensor::zeros({5})); }, "b_ih must have shape [20]");
  expect_error([&] { recurrent(RecurrentCell::gru, in[0], in[1], in[2], in[3], in[4], false); },
               "gru: w_hh must have shape [15, 5]");
}

}  // namespace
}  // namespace bp
