// Training from a data source of one's own: two interleaved spirals, each sample computed from its
// index when a batch asks for it (bp::data::SampleSource), never held in memory as a whole. The
// Trainer reads it like an in-memory Dataset; the test set is the same kind of source, copied into
// a Dataset for evaluation. Exits non-zero when the test accuracy stays below 90%.
#include <cmath>
#include <cstdio>

#include "backprop/backprop.hpp"

namespace {

// Sample i lies on spiral i % 2, at a radius and angle drawn from (seed, i) alone, so that every
// call for the same index gives the same sample (as SampleSource requires), from any thread.
class Spirals : public bp::data::SampleSource {
 public:
  Spirals(int64_t size, uint64_t seed) : size_(size), seed_(seed) {}
  int64_t size() const override { return size_; }
  bp::Shape feature_shape() const override { return {2}; }
  int64_t num_classes() const override { return 2; }
  int64_t label(int64_t index) const override { return index % 2; }
  void features(int64_t index, float* out) const override {
    bp::Generator gen(seed_ * 1'000'003 + static_cast<uint64_t>(index));
    const float t = gen.uniform(0.25f, 1.0f);  // how far along the spiral
    const float angle = 3.0f * 3.14159265f * t + (index % 2 == 1 ? 3.14159265f : 0.0f);
    out[0] = 2.0f * t * std::cos(angle) + gen.normal(0.0f, 0.05f);
    out[1] = 2.0f * t * std::sin(angle) + gen.normal(0.0f, 0.05f);
  }

 private:
  int64_t size_;
  uint64_t seed_;
};

// A source's samples as an in-memory Dataset (for evaluate()).
bp::data::Dataset materialize(const bp::data::SampleSource& source) {
  bp::data::Dataset d;
  d.feature_shape = source.feature_shape();
  d.num_classes = source.num_classes();
  d.features = bp::Tensor::empty({source.size(), bp::numel(d.feature_shape)});
  for (int64_t i = 0; i < source.size(); ++i) {
    source.features(i, d.features.data() + i * bp::numel(d.feature_shape));
    d.labels.push_back(source.label(i));
  }
  return d;
}

}  // namespace

int main() {
  using namespace bp;
  auto train = std::make_shared<Spirals>(4000, 1);
  const data::Dataset test = materialize(Spirals(2000, 2));

  Generator gen(7);
  auto net =
      nn::build_model(nn::parse_model_spec("dense(64),tanh,dense(64),tanh,dense(2)"), {2}, gen);
  optim::Adam adam(net->parameters(), {.lr = 0.01f});
  train::Trainer trainer(*net, adam, {.epochs = 8, .batch_size = 32, .seed = 3});
  for (const train::EpochStats& s : trainer.fit(train, {{"test", &test}}))
    std::printf("epoch %2lld  train loss %.4f  test accuracy %.3f\n",
                static_cast<long long>(s.epoch), s.train_loss, s.eval("test")->accuracy);
  const double accuracy = trainer.history().back().eval("test")->accuracy;
  return accuracy >= 0.9 ? 0 : 1;
}
