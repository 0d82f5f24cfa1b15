// `backprop predict`: one line per input row, the predicted class name or the predicted values.
#include <algorithm>
#include <cstdio>
#include <memory>

#include "backprop/backprop.hpp"
#include "cli/commands.hpp"
#include "cli/data_source.hpp"

namespace bp::cli {

namespace {

struct PredictArgs {
  std::string model_file;
  std::string input;
  DataOptions data;
  bool scores = false;
};

// The predictions as text, one line per sample: a class name (or index), or comma-separated values
// (always with `scores`: the network's outputs, to 9 significant digits).
std::string prediction_text(const Model& model, const Tensor& out, bool scores) {
  const int64_t n = out.size(0), k = out.numel() / std::max<int64_t>(n, 1);
  std::string text;
  if (model.task == data::Task::classification && !scores) {
    for (int64_t c : argmax(out.reshape({n, k}), 1))
      text += (static_cast<size_t>(c) < model.label_names.size()
                   ? model.label_names[static_cast<size_t>(c)]
                   : std::to_string(c)) +
              '\n';
  } else {
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < k; ++j)
        text += fmt::format("{}{:.{}g}", j ? "," : "", out.data()[i * k + j], scores ? 9 : 6);
      text += '\n';
    }
  }
  return text;
}

int run_predict(const PredictArgs& a) {
  Model model = load_model(a.model_file);
  BP_CHECK(!model.vocabulary, "predict: {} is a text model; continue a text with backprop generate",
           a.model_file);
  if (model.forecast) {  // the next values after the series' last window
    DataOptions o = forecast_options(a.data, *model.forecast);
    o.source = a.input;
    std::fputs(prediction_text(model, model.predict(load_last_window(o)), a.scores).c_str(),
               stdout);
    return 0;
  }
  Tensor features = load_features(a.input, numel(model.input_shape), a.data);
  Shape shape{features.size(0)};
  shape.insert(shape.end(), model.input_shape.begin(), model.input_shape.end());
  std::fputs(prediction_text(model, model.predict(features.reshape(shape)), a.scores).c_str(),
             stdout);
  return 0;
}

}  // namespace

Command add_predict_command(CLI::App& app) {
  auto a = std::make_shared<PredictArgs>();
  CLI::App* cmd = app.add_subcommand("predict", "print one prediction per input row");
  cmd->add_option("--model-file", a->model_file, "model file")->required();
  cmd->add_option("--input", a->input, "a CSV file or an IDX images file")->required();
  cmd->add_option("--csv-label", a->data.csv_label,
                  "CSV label column to ignore (a forecaster: its target column)");
  cmd->add_option("--csv-delimiter", a->data.csv_delimiter, "CSV delimiter");
  cmd->add_option("--csv-header", a->data.csv_header, "CSV header row: yes, no or auto");
  cmd->add_flag("--scores", a->scores,
                "print the network's outputs (a classifier's logits) instead of class names");
  return {cmd, [a] { return run_predict(*a); }};
}

}  // namespace bp::cli
