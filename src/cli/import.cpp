// `backprop import`: an ONNX file as a model file that the other commands use.
#include <cstdio>
#include <memory>

#include "backprop/backprop.hpp"
#include "backprop/onnx.hpp"
#include "cli/commands.hpp"
#include "cli/common.hpp"

namespace bp::cli {

namespace {

struct ImportArgs {
  std::string onnx, out;
};

int run_import(const ImportArgs& a) {
  io::check_writable(a.out);
  const Model model = onnx::import_model(a.onnx);
  save_model(a.out, model);
  std::printf("imported %s to %s: %s, input [batch, %s], %lld parameters\n", a.onnx.c_str(),
              a.out.c_str(), nn::to_string(model.spec).c_str(),
              fmt::format("{}", fmt::join(model.input_shape, ", ")).c_str(),
              static_cast<long long>(model.network->parameter_count()));
  return 0;
}

}  // namespace

Command add_import_command(CLI::App& app) {
  auto a = std::make_shared<ImportArgs>();
  CLI::App* cmd = app.add_subcommand(
      "import",
      "read an ONNX file (opsets 13 to 17) made of the operators export writes as a model file");
  cmd->add_option("onnx", a->onnx, "the ONNX file to read")->required();
  cmd->add_option("--out", a->out, "the model file to write")->required();
  return {cmd, [a] { return run_import(*a); }};
}

}  // namespace bp::cli
