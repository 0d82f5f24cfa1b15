// The backprop command-line program: assembles the commands (one file each, see commands.hpp),
// runs the one the command line names, and turns every failure into one line and an exit status.
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "backprop/backprop.hpp"
#include "cli/commands.hpp"

namespace {

using namespace bp;

// The line a failure prints. bp::Error messages are ours and say what failed; the readers and
// kernels wrap what the libraries they use throw, so anything else is a bug, labelled as one.
std::string failure_text(const std::exception& e) {
  if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr)
    return "out of memory (the data or the model is too large for this machine)";
  if (dynamic_cast<const Error*>(&e) != nullptr) return e.what();
  return fmt::format("unexpected internal failure: {}", e.what());
}

// What went to standard output must have arrived: a full disk behind it is an error, not a
// silent exit 0 with the predictions lost. Returns the exit code.
int check_stdout(int code) {
  const int err = std::fflush(stdout) != 0 ? errno : 0;
  if (err == 0 && !std::ferror(stdout)) return code;
  std::fprintf(stderr, "error: cannot write to standard output: %s\n",
               std::strerror(err != 0 ? err : EIO));
  return code != 0 ? code : 1;
}

// --backend: a choice for the whole process, given to the commands that run kernels.
void add_backend_option(CLI::App& cmd, std::string& name) {
  cmd.add_option("--backend", name, "kernels: fast (oneDNN) or reference (plain C++ loops)")
      ->check(CLI::IsMember({"fast", "reference"}))
      ->capture_default_str();
}

// --precision: likewise for the whole process (train records it in the model's info).
void add_precision_option(CLI::App& cmd, std::string& name) {
  cmd.add_option("--precision", name,
                 "matrix products and convolutions: fp32, or bf16 (mixed precision: bf16 "
                 "operands, fp32 accumulation, weights and gradients)")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
}

// Runs the chosen command. Returns the exit status: 1 for a failure, after one line on stderr.
int run(const std::vector<cli::Command>& commands, const std::string& backend,
        const std::string& precision) {
  try {
    set_backend(backend == "reference" ? Backend::reference : Backend::fast);
    set_precision(parse_precision(precision, "--precision"));
    if (bp::precision() == Precision::bf16 && !bf16_native())
      std::fprintf(stderr,
                   "warning: this CPU has no native bf16 arithmetic (AVX-512 BF16); --precision "
                   "bf16 will run slower than fp32\n");
    for (const cli::Command& c : commands)
      if (*c.app) return c.run();
    return 0;
  } catch (const std::exception& e) {
    const std::string message = failure_text(e);
    // One rank of a data-parallel job: the others would wait for it forever, so end them all.
    if (auto* comm = distributed::Communicator::active()) comm->abort(message);
    std::fprintf(stderr, "error: %s\n", message.c_str());
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  // OpenMP threads that spin while waiting fight any other busy process for the cores and can
  // make training 10-20x slower on a shared machine. GNU OpenMP reads its wait policy when the
  // program loads, so the only way to choose it here is to start again with it set; a policy the
  // user chose is kept.
  if (std::getenv("OMP_WAIT_POLICY") == nullptr && ::setenv("OMP_WAIT_POLICY", "passive", 1) == 0)
    ::execv("/proc/self/exe", argv);  // returns only on failure: then carry on as we are

  CLI::App app{"backprop: train neural networks by backpropagation"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "backprop " BP_VERSION_STRING);
  const cli::Command train = cli::add_train_command(app, argc, argv);
  const cli::Command eval = cli::add_eval_command(app);
  const cli::Command predict = cli::add_predict_command(app);
  const cli::Command generate = cli::add_generate_command(app);
  const cli::Command info = cli::add_info_command(app);
  const cli::Command export_onnx = cli::add_export_command(app);
  const cli::Command import_onnx = cli::add_import_command(app);
  const cli::Command gradcheck = cli::add_gradcheck_command(app);
  const cli::Command paper = cli::add_paper_command(app);
  std::string backend = "fast";
  for (const cli::Command* c : {&train, &eval, &predict, &generate, &gradcheck})
    add_backend_option(*c->app, backend);
  std::string precision = "fp32";
  for (const cli::Command* c : {&train, &eval, &predict}) add_precision_option(*c->app, precision);

  // Bad command lines get the same one-line "error: ..." as every other failure, and exit 2.
  app.failure_message(
      [](const CLI::App*, const CLI::Error& e) { return fmt::format("error: {}\n", e.what()); });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help and --version end here too, with 0
  }
  return check_stdout(
      run({train, eval, predict, generate, info, export_onnx, import_onnx, gradcheck, paper},
          backend, precision));
}
