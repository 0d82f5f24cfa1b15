// Recurrent and attention layers in model specs. Their samples are (seq, features): the batch
// dimension is added in front as for every layer.
#include "backprop/recurrent.hpp"
#include "nn/spec_internal.hpp"

namespace bp::nn::spec {

namespace {

enum class Cell { rnn, lstm, gru };

// Reads rnn/lstm/gru arguments and builds the layer for samples of shape (seq, features).
std::shared_ptr<Module> recurrent(Args& a, const Shape& in, Generator& gen, Cell cell) {
  RecurrentOptions o{.hidden = a.positive_int(0, "hidden", std::nullopt),
                     .layers = a.positive_int(1, "layers", 1),
                     .sequences = a.flag(2, "sequences", false)};
  if (cell == Cell::rnn && a.choice(3, "nonlinearity", "tanh", {"tanh", "relu"}) == "relu")
    o.nonlinearity = RNNNonlinearity::relu;
  if (a.dry_run()) return nullptr;
  if (in.size() != 2 || in[0] < 1)
    a.error(fmt::format("expects samples of shape (seq, features), got {}", bp::to_string(in)));
  o.input = in[1];
  const double gates = cell == Cell::lstm ? 4 : cell == Cell::gru ? 3 : 1;
  const auto h = static_cast<double>(o.hidden);
  // Per layer: gates·h·(in + h + 2), with in the features for layer 0 and h above.
  a.reserve_parameters(gates * h * (static_cast<double>(in[1]) + h + 2) +
                       static_cast<double>(o.layers - 1) * gates * h * (2 * h + 2));
  switch (cell) {
    case Cell::rnn:
      return std::make_shared<RNN>(o, gen);
    case Cell::lstm:
      return std::make_shared<LSTM>(o, gen);
    case Cell::gru:
      return std::make_shared<GRU>(o, gen);
  }
  return nullptr;
}

}  // namespace

void add_recurrent_layers(LayerTable& k) {
  k["rnn"] = {
      "rnn(hidden, layers=1, sequences=false, nonlinearity=tanh)",
      "Elman RNN over (seq, features); the last hidden state, or all with sequences=true",
      [](Args& a, const Shape& in, Generator& gen) { return recurrent(a, in, gen, Cell::rnn); }};
  k["lstm"] = {
      "lstm(hidden, layers=1, sequences=false)",
      "LSTM over (seq, features); the last hidden state, or all with sequences=true",
      [](Args& a, const Shape& in, Generator& gen) { return recurrent(a, in, gen, Cell::lstm); }};
  k["gru"] = {
      "gru(hidden, layers=1, sequences=false)",
      "GRU over (seq, features); the last hidden state, or all with sequences=true",
      [](Args& a, const Shape& in, Generator& gen) { return recurrent(a, in, gen, Cell::gru); }};
  k["attention"] = {
      "attention(heads, causal=false)",
      "multi-head self-attention over (seq, embed); embed = the input's last extent",
      [](Args& a, const Shape& in, Generator& gen) -> std::shared_ptr<Module> {
        const int64_t heads = a.positive_int(0, "heads", std::nullopt);
        const bool causal = a.flag(1, "causal", false);
        if (a.dry_run()) return nullptr;
        if (in.size() != 2 || in[0] < 1)
          a.error(fmt::format("expects samples of shape (seq, embed), got {}", bp::to_string(in)));
        if (in[1] % heads != 0)
          a.error(fmt::format("embed dimension {} is not divisible by heads={}", in[1], heads));
        const auto e = static_cast<double>(in[1]);
        a.reserve_parameters(4 * e * (e + 1));
        return std::make_shared<MultiheadAttention>(
            AttentionOptions{.dim = in[1], .heads = heads, .causal = causal}, gen);
      }};
}

}  // namespace bp::nn::spec
