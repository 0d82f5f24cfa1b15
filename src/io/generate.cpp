// Text generation with a text model: one character at a time, each from the model's scores at the
// last position of the context.
#include <algorithm>
#include <cmath>

#include "backprop/error.hpp"
#include "backprop/model.hpp"

namespace bp {

namespace {

// A character for messages: 'x' (U+0078), or the byte 0x78.
std::string describe(uint32_t symbol, data::TokenKind kind) {
  if (kind == data::TokenKind::bytes) return fmt::format("the byte 0x{:02x}", symbol);
  const bool printable = symbol >= 0x20 && symbol != 0x7F;
  const std::string shown =
      printable ? fmt::format("'{}' ", data::symbols_text({&symbol, 1}, kind)) : std::string();
  return fmt::format("the character {}(U+{:04X})", shown, symbol);
}

// The prompt as ids of the model's vocabulary; every character must be in it.
std::vector<int64_t> prompt_ids(const data::Vocabulary& vocabulary, std::string_view prompt) {
  const std::vector<uint32_t> symbols =
      data::text_symbols(prompt, vocabulary.kind, "generate: the prompt");
  BP_CHECK_AS(ValueError, !symbols.empty(),
              "generate: the prompt is empty; give at least one character to continue");
  std::vector<int64_t> ids = vocabulary.ids(symbols);
  for (size_t i = 0; i < ids.size(); ++i)
    BP_CHECK_AS(ValueError, ids[i] != 0,
                "generate: {} at position {} of the prompt is not in the model's vocabulary "
                "({} characters seen in training)",
                describe(symbols[i], vocabulary.kind), i, vocabulary.symbols.size());
  return ids;
}

// The next id from scores s[0, v), id 0 (the unknown token) never: the argmax at temperature 0,
// else a draw from softmax(s / T) over the top_k highest (ties broken by the lower id).
int64_t pick(const float* s, int64_t v, const GenerateOptions& o, Generator& gen) {
  std::vector<int64_t> ids(static_cast<size_t>(v - 1));
  for (int64_t i = 1; i < v; ++i) ids[static_cast<size_t>(i - 1)] = i;
  const auto higher = [s](int64_t a, int64_t b) { return s[a] > s[b] || (s[a] == s[b] && a < b); };
  if (o.temperature == 0) return *std::min_element(ids.begin(), ids.end(), higher);
  if (o.top_k > 0 && o.top_k < v - 1) {
    std::partial_sort(ids.begin(), ids.begin() + o.top_k, ids.end(), higher);
    ids.resize(static_cast<size_t>(o.top_k));
  }
  const float top = s[*std::min_element(ids.begin(), ids.end(), higher)];
  std::vector<double> weight(ids.size());
  double total = 0;
  for (size_t i = 0; i < ids.size(); ++i)
    total += weight[i] = std::exp(static_cast<double>(s[ids[i]] - top) / o.temperature);
  double u = static_cast<double>(gen.uniform()) * total;
  for (size_t i = 0; i < ids.size(); ++i)
    if ((u -= weight[i]) < 0) return ids[i];
  return ids.back();
}

}  // namespace

std::string generate_text(const Model& model, std::string_view prompt, const GenerateOptions& o) {
  BP_CHECK_AS(ValueError, model.vocabulary.has_value() && model.network,
              "generate: the model is not a text model (it has no vocabulary: train it on a text "
              "corpus)");
  BP_CHECK_AS(ValueError, o.length >= 0 && o.top_k >= 0,
              "generate: length and top_k must be >= 0, got {} and {}", o.length, o.top_k);
  BP_CHECK_AS(ValueError, std::isfinite(o.temperature) && o.temperature >= 0,
              "generate: the temperature must be finite and >= 0, got {}", o.temperature);
  const data::Vocabulary& vocabulary = *model.vocabulary;
  std::vector<int64_t> ids = prompt_ids(vocabulary, prompt);
  const int64_t len = model.input_shape.at(0), v = vocabulary.size();
  NoGradGuard no_grad;
  model.network->eval();
  Generator gen(o.seed);
  std::vector<uint32_t> out;
  std::vector<float> context;
  for (int64_t step = 0; step < o.length; ++step) {
    const auto n = std::min(len, static_cast<int64_t>(ids.size()));
    context.assign(ids.end() - n, ids.end());
    const Tensor scores = model.network->forward(Tensor::from_data(context, {1, n}));
    BP_CHECK_AS(ShapeError, scores.shape() == Shape({1, n, v}),
                "generate: the network gives scores of shape {} for a context of {} characters, "
                "expected [1, {}, {}]",
                to_string(scores.shape()), n, n, v);
    ids.push_back(pick(scores.data() + (n - 1) * v, v, o, gen));
    out.push_back(vocabulary.symbol(ids.back()));
  }
  return data::symbols_text(out, vocabulary.kind);
}

}  // namespace bp
