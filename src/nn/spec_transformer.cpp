// Transformer layers in model specs: positional encodings and the pre-norm block, over (seq, dim)
// samples.
#include "backprop/transformer.hpp"
#include "nn/spec_internal.hpp"

namespace bp::nn::spec {

namespace {

void check_sequence_input(Args& a, const Shape& in) {
  if (in.size() != 2 || in[0] < 1)
    a.error(fmt::format("expects samples of shape (seq, dim), got {}", bp::to_string(in)));
}

}  // namespace

void add_transformer_layers(LayerTable& k) {
  k["positional"] = {
      "positional(kind=learned)",
      "adds a vector per position to (seq, dim) samples: learned, or fixed sinusoidal",
      [](Args& a, const Shape& in, Generator& gen) -> std::shared_ptr<Module> {
        const bool learned = a.choice(0, "kind", "learned", {"learned", "sinusoidal"}) == "learned";
        if (a.dry_run()) return nullptr;
        check_sequence_input(a, in);
        if (learned) a.reserve_parameters(static_cast<double>(in[0]) * static_cast<double>(in[1]));
        return std::make_shared<PositionalEncoding>(
            PositionalOptions{.max_len = in[0],
                              .dim = in[1],
                              .kind = learned ? PositionKind::learned : PositionKind::sinusoidal},
            gen);
      }};
  k["transformer"] = {
      "transformer(heads, ff, dropout=0.1, causal=true)",
      "pre-norm block over (seq, dim): x + attention(layernorm(x)), then + mlp(layernorm(·)) "
      "with a GELU hidden layer of ff units",
      [](Args& a, const Shape& in, Generator& gen) -> std::shared_ptr<Module> {
        const int64_t heads = a.positive_int(0, "heads", std::nullopt);
        const int64_t ff = a.positive_int(1, "ff", std::nullopt);
        const double p = a.number(2, "dropout", 0.1);
        if (p < 0 || p >= 1)
          a.error(fmt::format("argument 'dropout' must be in [0, 1), got {}", p));
        const bool causal = a.flag(3, "causal", true);
        if (a.dry_run()) return nullptr;
        check_sequence_input(a, in);
        if (in[1] % heads != 0)
          a.error(fmt::format("dim {} is not divisible by heads={}", in[1], heads));
        const auto d = static_cast<double>(in[1]), f = static_cast<double>(ff);
        // Two layer norms, the four attention projections, the two MLP layers.
        a.reserve_parameters(4 * d + 4 * d * (d + 1) + f * (d + 1) + d * (f + 1));
        return std::make_shared<TransformerBlock>(
            TransformerOptions{.dim = in[1],
                               .heads = heads,
                               .ff = ff,
                               .dropout = static_cast<float>(p),
                               .causal = causal},
            gen);
      }};
}

}  // namespace bp::nn::spec
