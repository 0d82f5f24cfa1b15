// XOR with a 2-2-1 sigmoid network, squared error and momentum SGD: the first problem backprop
// solved that a single-layer perceptron cannot.
#include <cstdio>

#include "backprop/backprop.hpp"

int main() {
  using namespace bp;
  Generator gen(1);
  nn::Sequential net({std::make_shared<nn::Linear>(2, 2, true, gen), nn::Sigmoid(),
                      std::make_shared<nn::Linear>(2, 1, true, gen), nn::Sigmoid()});
  for (Tensor& w : net.parameters()) init::uniform(w, -1.0f, 1.0f, gen);

  Tensor inputs = Tensor::from_data({0, 0, 0, 1, 1, 0, 1, 1}, {4, 2});
  Tensor targets = Tensor::from_data({0, 1, 1, 0}, {4, 1});
  optim::SGD sgd(net.parameters(), {.lr = 0.5f, .momentum = 0.9f});

  // One batch update per sweep through the four patterns, as in the 1986 paper.
  for (int sweep = 1; sweep <= 2000; ++sweep) {
    sgd.zero_grad();
    Tensor loss = mse_loss(net(inputs), targets, Reduction::sum) * 0.5f;  // E = ½Σ(y-d)²
    loss.backward();
    sgd.step();
    if (sweep % 200 == 0) std::printf("sweep %4d  E = %.6f\n", sweep, loss.item());
  }

  NoGradGuard no_grad;
  Tensor out = net(inputs);
  int right = 0;
  for (int i = 0; i < 4; ++i) {
    float y = out.data()[i];
    bool ok = (y > 0.5f) == (targets.data()[i] > 0.5f);
    right += ok;
    std::printf("%g xor %g -> %.3f %s\n", inputs.data()[2 * i], inputs.data()[2 * i + 1], y,
                ok ? "ok" : "WRONG");
  }
  return right == 4 ? 0 : 1;
}
