// XOR, the first problem backprop solved that a single-layer perceptron cannot (Rumelhart, Hinton
// & Williams 1986). First the training loop written out for a 2-2-1 sigmoid network, then the
// paper's 2-1-1 network with direct input-output connections from bp::paper.
#include <cstdio>

#include "backprop/backprop.hpp"
#include "paper_example.hpp"

int main() {
  using namespace bp;
  Generator gen(1);
  nn::Sequential net;
  net.add(nn::Linear(2, 2, gen)).add(nn::Sigmoid()).add(nn::Linear(2, 1, gen)).add(nn::Sigmoid());
  for (Tensor& w : net.parameters()) init::uniform(w, -0.3f, 0.3f, gen);  // small random weights

  Tensor inputs = Tensor::from_data({0, 0, 0, 1, 1, 0, 1, 1}, {4, 2});
  Tensor targets = Tensor::from_data({0, 1, 1, 0}, {4, 1});
  // Δw(t) = −ε·∂E/∂w + α·Δw(t−1) with ε = 0.5, α = 0.9.
  optim::SGD sgd(net.parameters(), {.lr = 0.5f, .momentum = 0.9f});

  // One batch update per sweep through the four patterns, as in the paper.
  for (int sweep = 1; sweep <= 2000; ++sweep) {
    sgd.zero_grad();
    Tensor loss = mse_loss(net(inputs), targets, Reduction::sum) * 0.5f;  // E = ½Σ(y-d)²
    loss.backward();
    sgd.step();
    if (sweep % 200 == 0) std::printf("sweep %4d  E = %.6f\n", sweep, loss.item());
  }

  int right = 0;
  {
    NoGradGuard no_grad;  // evaluation only: record nothing
    Tensor out = net(inputs);
    for (int i = 0; i < 4; ++i) {
      float y = out.data()[i];
      bool ok = (y > 0.5f) == (targets.data()[i] > 0.5f);
      right += ok;
      std::printf("%g xor %g -> %.3f %s\n", inputs.data()[2 * i], inputs.data()[2 * i + 1], y,
                  ok ? "ok" : "WRONG");
    }
  }

  // The same problem with one hidden unit and direct connections (the paper's Fig. 2).
  std::printf("\n2-1-1 with direct connections:\n");
  paper::Result direct = paper::run("xor-direct", paper::experiment("xor-direct").defaults);
  example::print_run(direct);
  example::print_weights(direct);
  return right == 4 && direct.all_right() ? 0 : 1;
}
