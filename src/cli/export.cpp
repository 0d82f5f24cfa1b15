// `backprop export`: a saved model as an ONNX file for other runtimes.
#include <cstdio>
#include <memory>

#include "backprop/backprop.hpp"
#include "backprop/onnx.hpp"
#include "cli/commands.hpp"
#include "cli/common.hpp"

namespace bp::cli {

namespace {

struct ExportArgs {
  std::string model_file, onnx;
};

int run_export(const ExportArgs& a) {
  io::check_writable(a.onnx);
  const Model model = load_model(a.model_file);
  onnx::export_model(model, a.onnx);
  std::printf("exported %s to %s (ONNX opset %d, input [batch, %s])\n", a.model_file.c_str(),
              a.onnx.c_str(), onnx::kOpset,
              fmt::format("{}", fmt::join(model.input_shape, ", ")).c_str());
  return 0;
}

}  // namespace

Command add_export_command(CLI::App& app) {
  auto a = std::make_shared<ExportArgs>();
  CLI::App* cmd = app.add_subcommand(
      "export",
      "write a saved model as an ONNX file (opset 17) that takes the same raw inputs as "
      "predict");
  cmd->add_option("--model-file", a->model_file, "model file")->required();
  cmd->add_option("--onnx", a->onnx, "the ONNX file to write")->required();
  return {cmd, [a] { return run_export(*a); }};
}

}  // namespace bp::cli
