// `backprop paper NAME`: an experiment of Rumelhart, Hinton & Williams (1986), run with one seed or
// several, its table and pictures.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <vector>

#include "backprop/error.hpp"
#include "backprop/paper.hpp"
#include "backprop/plot.hpp"
#include "cli/commands.hpp"
#include "cli/flags.hpp"

namespace bp::cli {

namespace {

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

// What the runs of all seeds add up to.
struct Tally {
  std::vector<double> sweeps;  // of the runs that converged
  std::vector<double> held_right;
  int64_t converged = 0, all_right = 0;
};

std::string list_text() {
  std::string out = "Experiments:\n";
  for (const paper::Experiment& e : paper::experiments())
    out += "  " + e.name + std::string(14 - std::min<size_t>(e.name.size(), 13), ' ') +
           e.architecture + "\n";
  return out;
}

double percentile(std::vector<double> v, double q) {  // linear interpolation, v non-empty
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

int print_list(bool asked) {
  for (const paper::Experiment& e : paper::experiments())
    std::printf("%-13s %s\n%13s paper: %s\n", e.name.c_str(), e.architecture.c_str(), "",
                e.paper.c_str());
  if (!asked) std::printf("\nrun one with: backprop paper NAME [--seeds N] [--plot DIR]\n");
  return 0;
}

// The experiment's settings with the flags given in place of its own.
paper::Settings settings_of(const paper::Experiment& e, const PaperArgs& a) {
  paper::Settings s = e.defaults;
  if (a.lr >= 0) s.lr = a.lr;
  if (a.momentum >= 0) s.momentum = a.momentum;
  if (a.init_range > 0) s.init_range = a.init_range;
  if (a.tolerance > 0) s.tolerance = a.tolerance;
  if (a.max_sweeps > 0) s.max_sweeps = a.max_sweeps;
  if (a.hidden > 0) s.hidden = a.hidden;
  return s;
}

// What the paper reports, the settings this run uses, and the table's heading.
void print_heading(const paper::Experiment& e, const paper::Settings& s) {
  std::printf("%s: %s\n", e.name.c_str(), e.architecture.c_str());
  std::printf("paper: %s\n", e.paper.c_str());
  std::printf("ours: eps %g, alpha %g", static_cast<double>(s.lr), static_cast<double>(s.momentum));
  if (s.warmup_sweeps > 0)
    std::printf(" (eps %g, alpha %g for the first %lld sweeps)", static_cast<double>(s.warmup_lr),
                static_cast<double>(s.warmup_momentum), static_cast<long long>(s.warmup_sweeps));
  if (s.weight_decay > 0)
    std::printf(", weights x%g after each change", 1.0 - static_cast<double>(s.weight_decay));
  std::printf(", initial weights +-%g, up to %lld sweeps\n", static_cast<double>(s.init_range),
              static_cast<long long>(s.max_sweeps));
  std::printf("converged: every output within %g of its target\n",
              static_cast<double>(s.tolerance));
  if (s.error_margin > 0)
    std::printf("error: none for an output within %g of its target\n",
                static_cast<double>(s.error_margin));
  std::printf("\n");
  std::printf("%8s  %9s  %7s  %9s%s\n", "seed", "converged", "sweeps", "right",
              s.held_out > 0         ? "  held out"
              : e.name == "symmetry" ? "  hidden weights: mirror error, magnitudes"
                                     : "");
}

// One seed's row of the table.
void print_row(const paper::Experiment& e, const paper::Settings& s, const paper::Result& r) {
  std::printf("%8llu  %9s  %7s  %4lld/%-4lld", static_cast<unsigned long long>(s.seed),
              r.converged ? "yes" : "no", r.converged ? std::to_string(r.sweeps).c_str() : "-",
              static_cast<long long>(r.right), static_cast<long long>(r.total));
  if (s.held_out > 0)
    std::printf("  %lld/%lld", static_cast<long long>(r.held_out_right),
                static_cast<long long>(r.held_out_total));
  if (e.name == "symmetry")
    for (const paper::MirrorUnit& u : paper::mirror_structure(r))
      std::printf("  %.3f 1:%.2f:%.2f", u.mirror_error, u.ratios[1], u.ratios[2]);
  std::printf("\n");
}

void add_run(Tally& t, const paper::Result& r) {
  if (r.converged) {
    ++t.converged;
    t.sweeps.push_back(static_cast<double>(r.sweeps));
  }
  t.all_right += r.all_right();
  t.held_right.push_back(static_cast<double>(r.held_out_right));
}

void print_tally(const Tally& t, int64_t seeds, int64_t held_out) {
  std::printf("\nconverged %lld of %lld; all patterns right in %lld",
              static_cast<long long>(t.converged), static_cast<long long>(seeds),
              static_cast<long long>(t.all_right));
  if (!t.sweeps.empty())
    std::printf("; sweeps to converge: median %.0f, quartiles %.0f-%.0f, range %.0f-%.0f",
                percentile(t.sweeps, 0.5), percentile(t.sweeps, 0.25), percentile(t.sweeps, 0.75),
                percentile(t.sweeps, 0), percentile(t.sweeps, 1));
  if (held_out > 0) {
    double mean = 0;
    for (double h : t.held_right) mean += h;
    std::printf("; held out right: mean %.2f of %lld",
                mean / static_cast<double>(t.held_right.size()), static_cast<long long>(held_out));
  }
  std::printf("\n");
}

int run_paper(const PaperArgs& a) {
  if (a.list || a.name.empty()) return print_list(a.list);
  const paper::Experiment& e = paper::experiment(a.name);
  paper::Settings s = settings_of(e, a);
  if (!a.plot_dir.empty()) plot::check_plot_dir(a.plot_dir);
  print_heading(e, s);
  Tally tally;
  std::vector<std::string> written;
  for (int64_t k = 0; k < a.seeds; ++k) {
    s.seed = a.seed + static_cast<uint64_t>(k);
    const paper::Result r = paper::run(e.name, s);
    print_row(e, s, r);
    add_run(tally, r);
    if (k == 0 && !a.plot_dir.empty()) written = paper::write_plots(r, a.plot_dir);
  }
  print_tally(tally, a.seeds, s.held_out);
  for (const std::string& path : written) std::printf("wrote %s\n", path.c_str());
  return 0;
}

void add_overrides(CLI::App& cmd, PaperArgs& a) {
  cmd.add_option("--lr", a.lr, "learning rate ε (default: the experiment's)")
      ->check(in_range(0, 100));
  cmd.add_option("--momentum", a.momentum, "momentum α (default: the experiment's)")
      ->check(in_range(0, 1, false, true));
  cmd.add_option("--init-range", a.init_range,
                 "initial weights uniform in ±R (default: the experiment's)")
      ->check(in_range(1e-6, 100));
  cmd.add_option("--max-sweeps", a.max_sweeps, "give up after this many sweeps")
      ->check(CLI::Range(1, 100000000));
  cmd.add_option("--tolerance", a.tolerance,
                 "converged when every output is within this of its target (0.5: right side of "
                 "0.5)")
      ->check(in_range(1e-6, 0.5));
  cmd.add_option("--hidden", a.hidden,
                 "hidden units (t-c: feature maps; default: the experiment's)")
      ->check(CLI::Range(1, 1000));
}

}  // namespace

Command add_paper_command(CLI::App& app) {
  auto a = std::make_shared<PaperArgs>();
  CLI::App* cmd = app.add_subcommand(
      "paper", "run an experiment of Rumelhart, Hinton & Williams (1986) and print its result");
  cmd->footer(list_text());
  cmd->add_option("name", a->name, "the experiment (--list shows them)");
  cmd->add_flag("--list", a->list, "list the experiments and what the paper reports");
  cmd->add_option("--seed", a->seed, "first seed (initial weights; family-trees: also the split)")
      ->capture_default_str();
  cmd->add_option("--seeds", a->seeds, "runs, with seeds seed, seed+1, ...")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  cmd->add_option("--plot", a->plot_dir,
                  "draw the first run's learned weights as SVG Hinton diagrams in DIR");
  add_overrides(*cmd, *a);
  return {cmd, [a] { return run_paper(*a); }};
}

}  // namespace bp::cli
