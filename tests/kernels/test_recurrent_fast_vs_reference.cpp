// The fast recurrent kernels agree with the reference kernels, forward and backward, within the
// bound stated below, for every cell, with and without the whole sequence as output.
#include <cmath>
#include <vector>

#include "kernels/recurrent.hpp"
#include "test_util.hpp"

namespace bp {
namespace {

using kernels::RecurrentShape;

std::vector<float> uniform(int64_t n, float bound, Generator& gen) {
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = gen.uniform(-bound, bound);
  return v;
}

// The fast kernels sum the matrix products in another order, take e^x from a polynomial and tanh
// as 2σ(2x) - 1; over a few dozen steps the values (of order 1) and the gradients agree within
// 1e-5 + 1e-4 relative.
constexpr double kAbs = 1e-5, kRel = 1e-4;

void expect_close(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], kAbs + kRel * std::fabs(want[i]))
        << what << " at " << i << " of " << got.size();
}

// Forward then backward of one layer through one backend's kernels.
struct Result {
  std::vector<float> y, gx, gw_ih, gw_hh, gb_ih, gb_hh;
};
template <class Forward, class Backward>
Result run(const RecurrentShape& s, const std::vector<std::vector<float>>& in,
           const std::vector<float>& gy, Forward forward, Backward backward) {
  const int64_t rows = s.gates() * s.hidden;
  Result r{std::vector<float>(gy.size()),
           std::vector<float>(in[0].size()),
           std::vector<float>(static_cast<size_t>(rows * s.input)),
           std::vector<float>(static_cast<size_t>(rows * s.hidden)),
           std::vector<float>(static_cast<size_t>(rows)),
           std::vector<float>(static_cast<size_t>(rows))};
  std::vector<float> workspace(static_cast<size_t>(kernels::RecurrentWorkspace(s).size));
  forward(s, in[0].data(), in[1].data(), in[2].data(), in[3].data(), in[4].data(), r.y.data(),
          workspace.data());
  backward(s, in[0].data(), in[1].data(), in[2].data(), workspace.data(), gy.data(), r.gx.data(),
           r.gw_ih.data(), r.gw_hh.data(), r.gb_ih.data(), r.gb_hh.data());
  return r;
}

TEST(FastKernels, RecurrentMatchesReferenceWithinTheStatedBound) {
  Generator gen(81);
  // batch, steps, input, hidden: one row, one step, odd sizes, and the size of the zoo's models.
  const int64_t shapes[][4] = {{1, 5, 3, 4}, {4, 1, 2, 3}, {7, 9, 5, 17}, {16, 28, 28, 128}};
  for (RecurrentCell cell :
       {RecurrentCell::rnn_tanh, RecurrentCell::rnn_relu, RecurrentCell::lstm, RecurrentCell::gru})
    for (const auto& d : shapes)
      for (bool sequences : {false, true}) {
        const RecurrentShape s{cell, d[0], d[1], d[2], d[3], sequences};
        SCOPED_TRACE(fmt::format("cell {} batch {} steps {} input {} hidden {} sequences {}",
                                 static_cast<int>(cell), d[0], d[1], d[2], d[3], sequences));
        const int64_t rows = s.gates() * s.hidden;
        const float bound = 1.0f / std::sqrt(static_cast<float>(s.hidden));  // the layers' init
        const std::vector<std::vector<float>> in{
            uniform(s.batch * s.steps * s.input, 1.0f, gen), uniform(rows * s.input, bound, gen),
            uniform(rows * s.hidden, bound, gen), uniform(rows, bound, gen),
            uniform(rows, bound, gen)};
        const std::vector<float> gy =
            uniform(s.batch * (sequences ? s.steps : 1) * s.hidden, 1.0f, gen);
        const Result ref = run(s, in, gy, kernels::reference::recurrent_forward,
                               kernels::reference::recurrent_backward);
        const Result fast =
            run(s, in, gy, kernels::onednn::recurrent_forward, kernels::onednn::recurrent_backward);
        expect_close(fast.y, ref.y, "y");
        expect_close(fast.gx, ref.gx, "gx");
        expect_close(fast.gw_ih, ref.gw_ih, "gw_ih");
        expect_close(fast.gw_hh, ref.gw_hh, "gw_hh");
        expect_close(fast.gb_ih, ref.gb_ih, "gb_ih");
        expect_close(fast.gb_hh, ref.gb_hh, "gb_hh");
      }
}

}  // namespace
}  // namespace bp
