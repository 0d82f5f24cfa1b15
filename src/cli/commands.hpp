// The commands of the backprop program, one file each. Each adds its subcommand and options to the
// program's CLI::App and returns what runs it once the command line is parsed.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace bp::cli {

struct Command {
  CLI::App* app;  // true (`*app`) when the command line chose this command
  // Runs the command with the options parsed: returns the exit status, throws bp::Error.
  std::function<int()> run;
};

// `argc` and `argv`: the command line, recorded in the training report.
Command add_train_command(CLI::App& app, int argc, const char* const* argv);
Command add_eval_command(CLI::App& app);
Command add_predict_command(CLI::App& app);
Command add_generate_command(CLI::App& app);
Command add_info_command(CLI::App& app);
Command add_export_command(CLI::App& app);
Command add_import_command(CLI::App& app);
Command add_gradcheck_command(CLI::App& app);
Command add_paper_command(CLI::App& app);

}  // namespace bp::cli
