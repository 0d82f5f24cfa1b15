// A model of one's own, trained, saved and used again by another run of the program:
//   two_branch train model.bpp    trains on generated rings, prints the test accuracy, saves the
//                                 parameters (bp::save_parameters)
//   two_branch predict model.bpp  builds the same module with other random weights, loads the
//                                 saved ones (bp::load_parameters) and predicts the same test set
// Both print the test accuracy the same way, so that the second run can be checked against the
// first.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "backprop/backprop.hpp"

namespace {

// Two branches over the same input, a tanh layer and a ReLU layer, joined side by side and read by
// a linear head: logits = head([tanh(A·x), relu(B·x)]).
class TwoBranch : public bp::nn::Module {
 public:
  TwoBranch(int64_t in, int64_t hidden, int64_t classes, bp::Generator& gen)
      : smooth_(register_module("smooth", std::make_shared<bp::nn::Linear>(in, hidden, gen))),
        sharp_(register_module("sharp", std::make_shared<bp::nn::Linear>(in, hidden, gen))),
        head_(register_module("head", std::make_shared<bp::nn::Linear>(2 * hidden, classes, gen))) {
  }

  bp::Tensor forward(const bp::Tensor& x) override {
    return (*head_)(bp::concat({bp::tanh((*smooth_)(x)), bp::relu((*sharp_)(x))}, 1));
  }
  std::string name() const override { return "TwoBranch"; }
  bp::Shape output_shape(const bp::Shape& input) const override {
    const int64_t hidden = smooth_->output_shape(input)[0];
    return head_->output_shape({2 * hidden});
  }

 private:
  std::shared_ptr<bp::nn::Linear> smooth_, sharp_, head_;
};

// Three concentric rings of points in the plane, class = ring, drawn from `seed`.
bp::data::Dataset rings(int64_t per_class, uint64_t seed) {
  bp::Generator gen(seed);
  bp::data::Dataset d;
  d.feature_shape = {2};
  d.num_classes = 3;
  d.features = bp::Tensor::empty({3 * per_class, 2});
  for (int64_t i = 0; i < 3 * per_class; ++i) {
    const int64_t ring = i % 3;
    const float radius = 0.5f + static_cast<float>(ring) + gen.normal(0.0f, 0.3f);
    const float angle = gen.uniform(0.0f, 6.2831853f);
    d.features.data()[2 * i] = radius * std::cos(angle);
    d.features.data()[2 * i + 1] = radius * std::sin(angle);
    d.labels.push_back(ring);
  }
  return d;
}

// The share of the test set whose largest logit is its class, as "N of M".
void print_accuracy(TwoBranch& model, const bp::data::Dataset& test) {
  model.eval();
  bp::NoGradGuard no_grad;
  const std::vector<int64_t> predicted = bp::argmax(model(test.features), 1);
  int64_t right = 0;
  for (size_t i = 0; i < predicted.size(); ++i) right += predicted[i] == test.labels[i];
  std::printf("test accuracy: %lld of %lld (%.2f%%)\n", static_cast<long long>(right),
              static_cast<long long>(test.size()),
              100.0 * static_cast<double>(right) / static_cast<double>(test.size()));
}

}  // namespace

int main(int argc, char** argv) {
  using namespace bp;
  const bool train = argc == 3 && std::strcmp(argv[1], "train") == 0;
  if (argc != 3 || (!train && std::strcmp(argv[1], "predict") != 0)) {
    std::fprintf(stderr, "usage: %s train|predict PARAMETER_FILE\n", argv[0]);
    return 2;
  }
  const std::string path = argv[2];
  const data::Dataset test = rings(200, 2);
  try {
    if (train) {
      Generator gen(1);
      TwoBranch model(2, 16, 3, gen);
      optim::Adam adam(model.parameters(), {.lr = 0.02f});
      train::Trainer trainer(model, adam, {.epochs = 4, .batch_size = 32, .seed = 3});
      trainer.fit(rings(300, 1), {});
      print_accuracy(model, test);
      save_parameters(model, path);
    } else {
      Generator gen(99);  // other weights, all replaced by the saved ones
      TwoBranch model(2, 16, 3, gen);
      load_parameters(model, path);
      print_accuracy(model, test);
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "two_branch: %s\n", e.what());
    return 1;
  }
  return 0;
}
