// `backprop eval`: a saved model's loss and, for a classifier, accuracy, per-class precision and
// recall, and confusion matrix on test data.
#include <cstdio>
#include <memory>

#include "backprop/backprop.hpp"
#include "backprop/train.hpp"
#include "cli/commands.hpp"
#include "cli/common.hpp"

namespace bp::cli {

namespace {

struct EvalArgs {
  std::string model_file;
  DataOptions data;
  int threads = 2;
};

void print_metrics(const train::Metrics& m, const std::vector<std::string>& names) {
  if (!m.classification) {
    std::printf("loss %.6f over %lld samples\n", m.loss, static_cast<long long>(m.samples));
    return;
  }
  std::printf("%-16s %9s %9s\n", "class", "precision", "recall");
  for (size_t c = 0; c < m.precision.size(); ++c)
    std::printf("%-16s %8.2f%% %8.2f%%\n",
                c < names.size() ? names[c].c_str() : std::to_string(c).c_str(),
                100 * m.precision[c], 100 * m.recall[c]);
  if (m.confusion.empty()) {
    std::printf("confusion matrix: not kept for more than %lld classes\n",
                static_cast<long long>(train::kMaxConfusionClasses));
  } else {
    std::printf("confusion matrix (rows: true class, columns: predicted)\n");
    for (const auto& row : m.confusion) {
      for (int64_t v : row) std::printf("%6lld", static_cast<long long>(v));
      std::printf("\n");
    }
  }
  std::printf("loss %.4f  accuracy %.2f%% over %lld samples\n", m.loss, 100 * m.accuracy,
              static_cast<long long>(m.samples));
}

// A text model on a whole corpus, in windows of its length, read with its vocabulary.
int run_text_eval(const EvalArgs& a, Model& model) {
  const int64_t len = model.input_shape[0];
  const TextWindows text = load_text_eval(a.data.source, *model.vocabulary, len);
  const train::Metrics m =
      train::evaluate(*model.network, text.windows, train::Loss::cross_entropy);
  print_text_metrics(a.data.source.c_str(), m, len, text.unknown);
  return 0;
}

// A forecaster on a whole CSV time series, in windows of its rows (or of --window rows for a
// model saved without its windows).
int run_forecast_eval(const EvalArgs& a, Model& model) {
  const DataOptions o = model.forecast ? forecast_options(a.data, *model.forecast) : a.data;
  const data::Dataset raw = load_forecast(o);
  BP_CHECK(raw.feature_shape == model.input_shape && raw.targets.size(1) == model.num_outputs,
           "eval: the model forecasts {} values from inputs of shape {}; --window {} --horizon {} "
           "on {} give {} values from {}",
           model.num_outputs, to_string(model.input_shape), o.window, o.horizon, o.source,
           raw.targets.size(1), to_string(raw.feature_shape));
  data::Dataset test = raw;
  if (model.normalizer.kind() != data::NormKind::none) model.normalizer.apply(test);
  print_metrics(train::evaluate(*model.network, test, train::Loss::mse), {});
  print_forecast_metrics(o.source.c_str(), model, raw);
  return 0;
}

int run_eval(const EvalArgs& a) {
  set_num_threads(a.threads);
  Model model = load_model(a.model_file);
  if (model.vocabulary) return run_text_eval(a, model);
  if (model.forecast || a.data.window > 0) return run_forecast_eval(a, model);
  BP_CHECK(!is_text_source(a.data),
           "eval: {} is a text corpus, but {} is not a text model (it was not trained on one)",
           a.data.source, a.model_file);
  data::Dataset test = load_eval(a.data, model.label_names);
  BP_CHECK(test.feature_shape == model.input_shape,
           "eval: the model takes inputs of shape {}, the data has {}",
           to_string(model.input_shape), to_string(test.feature_shape));
  BP_CHECK(model.task != data::Task::classification || test.num_classes <= model.num_outputs,
           "eval: the data has {} classes, the model predicts {}", test.num_classes,
           model.num_outputs);
  if (model.normalizer.kind() != data::NormKind::none) model.normalizer.apply(test);
  train::Loss loss =
      model.task == data::Task::classification ? train::Loss::cross_entropy : train::Loss::mse;
  print_metrics(train::evaluate(*model.network, test, loss), model.label_names);
  return 0;
}

}  // namespace

Command add_eval_command(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand("eval", "evaluate a saved model on test data");
  cmd->add_option("--model-file", a->model_file, "model file")->required();
  add_data_options(*cmd, a->data);
  cmd->add_option("--threads", a->threads, "threads")->check(CLI::Range(0, 1024));
  return {cmd, [a] { return run_eval(*a); }};
}

}  // namespace bp::cli
