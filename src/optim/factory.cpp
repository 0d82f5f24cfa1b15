#include "backprop/error.hpp"
#include "backprop/optim.hpp"

namespace bp::optim {

const std::vector<std::string>& optimizer_kinds() {
  static const std::vector<std::string> kinds{"sgd",   "adagrad", "rmsprop", "adam",
                                              "adamw", "adamax",  "nadam"};
  return kinds;
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& kind, std::vector<Tensor> params,
                                          const OptimizerSettings& s) {
  if (kind == "sgd")
    return std::make_unique<SGD>(std::move(params), SGDOptions{.lr = s.lr,
                                                               .momentum = s.momentum,
                                                               .weight_decay = s.weight_decay,
                                                               .nesterov = s.nesterov});
  if (kind == "adagrad")
    return std::make_unique<Adagrad>(
        std::move(params),
        AdagradOptions{.lr = s.lr, .weight_decay = s.weight_decay, .eps = s.eps});
  if (kind == "rmsprop")
    return std::make_unique<RMSprop>(std::move(params),
                                     RMSpropOptions{.lr = s.lr,
                                                    .alpha = s.alpha,
                                                    .eps = s.eps,
                                                    .weight_decay = s.weight_decay,
                                                    .momentum = s.momentum,
                                                    .centered = s.centered});
  const AdamOptions adam{.lr = s.lr,
                         .beta1 = s.beta1,
                         .beta2 = s.beta2,
                         .eps = s.eps,
                         .weight_decay = s.weight_decay,
                         .amsgrad = s.amsgrad};
  if (kind == "adam") return std::make_unique<Adam>(std::move(params), adam);
  if (kind == "adamw") {
    AdamWOptions w;
    static_cast<AdamOptions&>(w) = adam;
    return std::make_unique<AdamW>(std::move(params), w);
  }
  if (kind == "adamax")
    return std::make_unique<Adamax>(std::move(params),
                                    AdamaxOptions{.lr = s.lr,
                                                  .beta1 = s.beta1,
                                                  .beta2 = s.beta2,
                                                  .eps = s.eps,
                                                  .weight_decay = s.weight_decay});
  if (kind == "nadam")
    return std::make_unique<NAdam>(std::move(params), NAdamOptions{.lr = s.lr,
                                                                   .beta1 = s.beta1,
                                                                   .beta2 = s.beta2,
                                                                   .eps = s.eps,
                                                                   .weight_decay = s.weight_decay});
  fail("optimizer: unknown kind '{}' (known: {})", kind, fmt::join(optimizer_kinds(), ", "));
}

}  // namespace bp::optim
