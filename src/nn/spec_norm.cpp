// Normalisation, dropout and embedding layers in model specs.
#include "backprop/norm.hpp"
#include "nn/spec_internal.hpp"

namespace bp::nn::spec {

namespace {

// eps and momentum as floats, checked here so that a dry run reports them.
float positive_float(Args& a, size_t index, const char* key, double fallback) {
  double v = a.number(index, key, fallback);
  if (!(v > 0) || v > 1e3)
    a.error(fmt::format("argument '{}' must be in (0, 1000], got {}", key, v));
  return static_cast<float>(v);
}

float unit_float(Args& a, size_t index, const char* key, double fallback, bool one_allowed) {
  double v = a.number(index, key, fallback);
  if (v < 0 || v > 1 || (!one_allowed && v == 1))
    a.error(
        fmt::format("argument '{}' must be in [0, 1{}, got {}", key, one_allowed ? "]" : ")", v));
  return static_cast<float>(v);
}

}  // namespace

void add_norm_layers(LayerTable& k) {
  k["batchnorm"] = {
      "batchnorm(momentum=0.1, eps=1e-5)",
      "batch normalisation per channel (inputs (C) or (C,H,W)); running statistics for eval",
      [](Args& a, const Shape& in, Generator&) -> std::shared_ptr<Module> {
        float momentum = unit_float(a, 0, "momentum", 0.1, true);
        float eps = positive_float(a, 1, "eps", 1e-5);
        if (a.dry_run()) return nullptr;
        if (in.size() != 1 && in.size() != 3)
          a.error(
              fmt::format("needs samples of shape (C) or (C, H, W), got {}", bp::to_string(in)));
        a.reserve_parameters(2.0 * static_cast<double>(in[0]));
        const BatchNormOptions options{.features = in[0], .eps = eps, .momentum = momentum};
        if (in.size() == 1) return std::make_shared<BatchNorm1d>(options);
        return std::make_shared<BatchNorm2d>(options);
      }};
  k["layernorm"] = {"layernorm(eps=1e-5)",
                    "layer normalisation over each whole sample, with a learned weight and bias",
                    [](Args& a, const Shape& in, Generator&) -> std::shared_ptr<Module> {
                      float eps = positive_float(a, 0, "eps", 1e-5);
                      if (a.dry_run()) return nullptr;
                      if (in.empty()) a.error("needs an input with at least one dimension");
                      a.reserve_parameters(2.0 * static_cast<double>(numel(in)));
                      return std::make_shared<LayerNorm>(LayerNormOptions{.shape = in, .eps = eps});
                    }};
  k["dropout"] = {"dropout(p=0.5)",
                  "zeroes each value with probability p in training (survivors scaled by "
                  "1/(1-p)); identity in eval",
                  [](Args& a, const Shape&, Generator& gen) -> std::shared_ptr<Module> {
                    float p = unit_float(a, 0, "p", 0.5, false);
                    if (a.dry_run()) return nullptr;
                    return std::make_shared<Dropout>(p, gen);
                  }};
  k["embedding"] = {"embedding(num, dim)",
                    "looks up a learned vector of size dim for each class id in [0, num)",
                    [](Args& a, const Shape&, Generator& gen) -> std::shared_ptr<Module> {
                      int64_t num = a.positive_int(0, "num", std::nullopt);
                      int64_t dim = a.positive_int(1, "dim", std::nullopt);
                      if (a.dry_run()) return nullptr;
                      a.reserve_parameters(static_cast<double>(num) * static_cast<double>(dim));
                      return std::make_shared<Embedding>(num, dim, gen);
                    }};
}

}  // namespace bp::nn::spec
