// `backprop info`: what a saved model is, how it was trained, and where an interrupted run stopped.
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "backprop/backprop.hpp"
#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "io/json.hpp"

namespace bp::cli {

namespace {

using nlohmann::json;

int run_info(const std::string& model_file) {
  Model model = load_model(model_file);
  std::printf("model file: %s\n", model_file.c_str());
  std::printf("spec: %s\n", nn::to_string(model.spec).c_str());
  std::printf("task: %s with %lld outputs\n",
              model.task == data::Task::classification ? "classification" : "regression",
              static_cast<long long>(model.num_outputs));
  if (model.vocabulary)
    std::printf("text model: %lld characters (%s) and the unknown token, windows of %lld\n",
                static_cast<long long>(model.vocabulary->symbols.size()),
                model.vocabulary->kind == data::TokenKind::bytes ? "bytes" : "code points",
                static_cast<long long>(model.input_shape[0]));
  if (model.forecast)
    std::printf("forecaster: the next %lld values of column %s from the last %lld rows\n",
                static_cast<long long>(model.forecast->horizon),
                model.forecast->target.empty() ? "(the last)" : model.forecast->target.c_str(),
                static_cast<long long>(model.forecast->window));
  if (!model.label_names.empty())
    std::printf("labels: %s\n", fmt::format("{}", fmt::join(model.label_names, ", ")).c_str());
  const char* norm[] = {"none", "minmax", "standardize"};
  std::printf("normalization: %s\n", norm[static_cast<int>(model.normalizer.kind())]);
  const json info = io::parse_json(model.info_json, model_file + ": info");
  if (info.is_object() && info.contains("interrupted")) {
    const json& at = info["interrupted"];
    std::printf("interrupted: by %s at epoch %s, batch %s\n",
                at.value("signal", std::string("a signal")).c_str(),
                io::dump_json(at.value("epoch", json())).c_str(),
                io::dump_json(at.value("batch", json())).c_str());
  }
  print_summary(model);
  std::printf("info: %s\n", io::dump_json(info, 2).c_str());
  return 0;
}

}  // namespace

Command add_info_command(CLI::App& app) {
  auto model_file = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("info", "describe a saved model");
  cmd->add_option("--model-file", *model_file, "model file")->required();
  return {cmd, [model_file] { return run_info(*model_file); }};
}

}  // namespace bp::cli
