#include "cli/common.hpp"

#include <cmath>
#include <cstdio>

namespace bp::cli {

std::vector<nn::LayerSpec> parse_spec_argument(const std::string& text) {
  if (!text.empty() && text[0] == '@') return nn::read_model_spec_file(text.substr(1));
  return nn::parse_model_spec(text);
}

std::string spec_help() {
  std::string layers;
  for (const std::string& line : nn::layer_help()) layers += "  " + line + "\n";
  return "\nModel spec: layers separated by commas, each NAME or NAME(ARG, KEY=VALUE, ...), e.g.\n"
         "  \"flatten,dense(256),relu,dense(128),relu,dense(10)\"\n"
         "or @FILE.json holding a JSON array of such layers. Layers:\n" +
         layers;
}

std::string schedule_help() {
  std::string pieces;
  for (const std::string& line : optim::schedule_help()) pieces += "  " + line + "\n";
  return "\nSchedule: pieces separated by commas, one after another (every piece but the last "
         "needs "
         "a length;\nthe last runs to the end), e.g. \"warmup(500),cosine\"; durations in steps "
         "(batches), or\nepochs with a trailing e (\"10e\"). Pieces:\n" +
         pieces;
}

void print_summary(const Model& model) {
  std::fputs(nn::summary(*model.network, model.input_shape).c_str(), stdout);
}

double bits_per_char(double nats) {
  return nats / std::log(2.0);
}

void print_text_metrics(const char* set, const train::Metrics& m, int64_t seq_len,
                        int64_t unknown) {
  std::printf(
      "%s loss: %.4f nats/char (%.4f bits/char), next-character accuracy %.2f%% over %lld "
      "characters (%lld outside the vocabulary)\n",
      set, m.loss, bits_per_char(m.loss), 100 * m.accuracy,
      static_cast<long long>(m.samples * seq_len), static_cast<long long>(unknown));
}

void print_forecast_metrics(const char* set, const Model& model, const data::Dataset& raw) {
  const Tensor predicted = model.predict(raw.features);
  const int64_t n = raw.size(), h = raw.targets.size(1);
  const int64_t w = raw.feature_shape[0], c = raw.feature_shape[1];
  double abs_sum = 0, sq_sum = 0, naive_abs = 0, naive_sq = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double last = raw.features.data()[(i * w + w - 1) * c + c - 1];
    for (int64_t j = 0; j < h; ++j) {
      const double t = raw.targets.data()[i * h + j], p = predicted.data()[i * h + j];
      abs_sum += std::fabs(p - t);
      sq_sum += (p - t) * (p - t);
      naive_abs += std::fabs(last - t);
      naive_sq += (last - t) * (last - t);
    }
  }
  const auto count = static_cast<double>(n * h);
  std::printf(
      "%s MAE %.6g, RMSE %.6g over %lld forecasts of %lld steps (naive last value: MAE "
      "%.6g, RMSE %.6g)\n",
      set, abs_sum / count, std::sqrt(sq_sum / count), static_cast<long long>(n),
      static_cast<long long>(h), naive_abs / count, std::sqrt(naive_sq / count));
}

void add_data_options(CLI::App& cmd, DataOptions& data) {
  cmd.add_option("--data", data.source,
                 "fashion-mnist, a folder with the four MNIST-style IDX files, a CSV file, or a "
                 "text corpus (a .txt file, or any file with --seq-len)")
      ->capture_default_str();
  cmd.add_option("--csv-label", data.csv_label,
                 "CSV label column: a header name or an index (default: last)");
  cmd.add_option("--csv-delimiter", data.csv_delimiter, "CSV delimiter (one character or 'tab')")
      ->capture_default_str();
  cmd.add_option("--csv-header", data.csv_header, "CSV header row: yes, no or auto")
      ->capture_default_str();
  cmd.add_option("--task", data.task, "classification or regression (CSV)")->capture_default_str();
  cmd.add_option("--window", data.window,
                 "CSV time series: forecast from the last N rows of every column (the target "
                 "column, --csv-label, included)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd.add_option("--horizon", data.horizon,
                 "CSV time series: forecast the target's next H values (with --window)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))
      ->capture_default_str();
}

}  // namespace bp::cli
