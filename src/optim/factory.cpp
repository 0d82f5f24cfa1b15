#include "backprop/error.hpp"
#include "backprop/optim.hpp"

namespace bp::optim {

const std::vector<std::string>& optimizer_kinds() {
  static const std::vector<std::string> kinds{"sgd",   "adagrad", "rmsprop", "adam",
                                              "adamw", "adamax",  "nadam"};
  return kinds;
}

namespace {

// The settings' unset optionals from the defaults of the options struct `o`.
template <class Options>
OptimizerSettings filled(OptimizerSettings s, const Options& o) {
  if (!s.lr) s.lr = o.lr;
  if (!s.weight_decay) s.weight_decay = o.weight_decay;
  if constexpr (requires { o.eps; })
    if (!s.eps) s.eps = o.eps;
  return s;
}

[[noreturn]] void fail_kind(const std::string& kind) {
  fail_as<ValueError>("optimizer: unknown kind '{}' (known: {})", kind,
                      fmt::join(optimizer_kinds(), ", "));
}

}  // namespace

OptimizerSettings with_defaults(const std::string& kind, OptimizerSettings s) {
  if (kind == "sgd") return filled(s, SGDOptions{});
  if (kind == "adagrad") return filled(s, AdagradOptions{});
  if (kind == "rmsprop") return filled(s, RMSpropOptions{});
  if (kind == "adam") return filled(s, AdamOptions{});
  if (kind == "adamw") return filled(s, AdamWOptions{});
  if (kind == "adamax") return filled(s, AdamaxOptions{});
  if (kind == "nadam") return filled(s, NAdamOptions{});
  fail_kind(kind);
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& kind, std::vector<Tensor> params,
                                          const OptimizerSettings& settings) {
  const OptimizerSettings s = with_defaults(kind, settings);
  const float lr = *s.lr, weight_decay = *s.weight_decay, eps = s.eps.value_or(0.0f);
  if (kind == "sgd")
    return std::make_unique<SGD>(std::move(params), SGDOptions{.lr = lr,
                                                               .momentum = s.momentum,
                                                               .weight_decay = weight_decay,
                                                               .nesterov = s.nesterov});
  if (kind == "adagrad")
    return std::make_unique<Adagrad>(
        std::move(params), AdagradOptions{.lr = lr, .weight_decay = weight_decay, .eps = eps});
  if (kind == "rmsprop")
    return std::make_unique<RMSprop>(std::move(params), RMSpropOptions{.lr = lr,
                                                                       .alpha = s.alpha,
                                                                       .eps = eps,
                                                                       .weight_decay = weight_decay,
                                                                       .momentum = s.momentum,
                                                                       .centered = s.centered});
  const AdamOptions adam{.lr = lr,
                         .beta1 = s.beta1,
                         .beta2 = s.beta2,
                         .eps = eps,
                         .weight_decay = weight_decay,
                         .amsgrad = s.amsgrad};
  if (kind == "adam") return std::make_unique<Adam>(std::move(params), adam);
  if (kind == "adamw") {
    AdamWOptions w;
    static_cast<AdamOptions&>(w) = adam;
    return std::make_unique<AdamW>(std::move(params), w);
  }
  if (kind == "adamax")
    return std::make_unique<Adamax>(std::move(params), AdamaxOptions{.lr = lr,
                                                                     .beta1 = s.beta1,
                                                                     .beta2 = s.beta2,
                                                                     .eps = eps,
                                                                     .weight_decay = weight_decay});
  return std::make_unique<NAdam>(
      std::move(params),
      NAdamOptions{
          .lr = lr, .beta1 = s.beta1, .beta2 = s.beta2, .eps = eps, .weight_decay = weight_decay});
}

}  // namespace bp::optim
