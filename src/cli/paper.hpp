// `backprop paper NAME`: the experiments of Rumelhart, Hinton & Williams (1986).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

namespace bp::cli {

struct PaperArgs {
  std::string name;
  bool list = false;
  uint64_t seed = 1;
  int64_t seeds = 1;
  std::string plot_dir;
  // Overrides of the experiment's own settings; unset (negative) keeps them.
  float lr = -1, momentum = -1, init_range = -1, tolerance = -1;
  int64_t max_sweeps = -1, hidden = -1;
};

// Adds the `paper` subcommand to `app`, filling `args` when parsed.
CLI::App* add_paper_command(CLI::App& app, PaperArgs& args);
// Runs it: prints the table, writes the pictures. Returns the exit status; throws bp::Error.
int run_paper(const PaperArgs& args);

}  // namespace bp::cli
