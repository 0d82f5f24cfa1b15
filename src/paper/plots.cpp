// The experiments' learned weights as Hinton diagrams, laid out as in the papers' figures.
#include <filesystem>

#include "backprop/error.hpp"
#include "backprop/ops.hpp"
#include "backprop/paper.hpp"
#include "backprop/plot.hpp"

namespace bp::paper {

namespace {

const Tensor& find(const Result& r, const std::string& name) {
  for (const auto& [n, w] : r.weights)
    if (n == name) return w;
  fail("paper: {} has no weight named '{}'", r.experiment, name);
}

bool has(const Result& r, const std::string& name) {
  for (const auto& [n, w] : r.weights)
    if (n == name) return true;
  return false;
}

std::vector<std::string> numbered(const std::string& prefix, int64_t n) {
  std::vector<std::string> out;
  for (int64_t i = 1; i <= n; ++i) out.push_back(prefix + " " + std::to_string(i));
  return out;
}

std::string save(const plot::Svg& svg, const std::string& dir, const std::string& file) {
  const std::string path = (std::filesystem::path(dir) / file).string();
  svg.save(path);
  return path;
}

std::string title_of(const Result& r, const std::string& what) {
  return r.experiment + " (seed " + std::to_string(r.settings.seed) + "): " + what;
}

// Every layered net: one panel per hidden unit (its input weights, bias apart) and one per output
// unit (weights from the hidden units, then from the inputs where there are direct connections).
std::string layered(const Result& r, const std::string& dir) {
  const Tensor& hw = find(r, "hidden.weight");
  const Tensor& hb = find(r, "hidden.bias");
  const int64_t inputs = hw.size(1), hidden = hw.size(0);
  std::vector<plot::HintonPanel> panels =
      plot::unit_panels(hw, &hb, {1, inputs}, numbered("hidden", hidden));
  for (auto& p : panels) p.col_labels = numbered("in", inputs);
  Tensor ow = find(r, "output.weight");
  std::vector<std::string> cols = numbered("h", hidden);
  if (has(r, "direct.weight")) {
    ow = concat({ow, find(r, "direct.weight")}, 1);
    for (const auto& c : numbered("in", inputs)) cols.push_back(c);
  }
  std::vector<plot::HintonPanel> out = plot::unit_panels(
      ow, &find(r, "output.bias"), {1, ow.size(1)}, numbered("output", ow.size(0)));
  for (auto& p : out) {
    p.col_labels = cols;
    panels.push_back(std::move(p));
  }
  plot::HintonOptions o;
  o.title = title_of(r, "weights of each unit");
  o.columns = std::max<int64_t>(hidden, ow.size(0));
  return save(plot::hinton(panels, o), dir, r.experiment + "-weights.svg");
}

// Symmetry (Nature, Fig. 1): the two hidden units' weights from the six inputs.
std::string symmetry(const Result& r, const std::string& dir) {
  const Tensor& hw = find(r, "hidden.weight");
  std::vector<plot::HintonPanel> panels =
      plot::unit_panels(hw, &find(r, "hidden.bias"), {1, 6}, numbered("hidden", hw.size(0)));
  for (auto& p : panels) p.col_labels = numbered("in", 6);
  plot::HintonOptions o;
  o.title = title_of(r, "the hidden units' weights from the six inputs");
  o.columns = 1;
  o.cell = 36;
  return save(plot::hinton(panels, o), dir, "symmetry-hidden.svg");
}

// Encoder: the hidden code of each of the 8 patterns.
std::string encoder_codes(const Result& r, const std::string& dir) {
  plot::HintonPanel p = plot::panel(r.hidden, "hidden unit activity per pattern");
  p.row_labels = numbered("pattern", r.hidden.size(0));
  p.col_labels = numbered("h", r.hidden.size(1));
  plot::HintonOptions o;
  o.title = title_of(r, "the learned codes");
  o.scale = 1.0;
  return save(plot::hinton(p, o), dir, "encoder-codes.svg");
}

// Family trees (Nature, Fig. 4): each of the 6 units that encode person 1, its weights from the
// 24 people, English above Italian (person k of each tree in column k), bias apart.
std::string family_people_units(const Result& r, const std::string& dir) {
  const Tensor& w = find(r, "person.weight");
  std::vector<plot::HintonPanel> panels =
      plot::unit_panels(w, &find(r, "person.bias"), {2, 12}, numbered("unit", w.size(0)));
  std::vector<std::string> names(family_people().begin(), family_people().begin() + 12);
  for (auto& p : panels) {
    p.row_labels = {"English", "Italian"};
    p.col_labels = names;  // the Italian row's column k holds the English person k's counterpart
  }
  plot::HintonOptions o;
  o.title = title_of(r, "weights from person 1 to the 6 units that encode it");
  o.columns = 2;
  return save(plot::hinton(panels, o), dir, "family-trees-people.svg");
}

// T-C: each feature map's 3×3 receptive field as an image, bias apart.
std::string tc_filters(const Result& r, const std::string& dir) {
  const Tensor& w = find(r, "filter.weight");
  Tensor flat = reshape(w, {w.size(0), 9});
  std::vector<plot::HintonPanel> panels = plot::unit_panels(flat, &find(r, "filter.bias"), {3, 3},
                                                            numbered("receptive field", w.size(0)));
  plot::HintonOptions o;
  o.title = title_of(r, "the tied 3x3 receptive field");
  o.cell = 40;
  return save(plot::hinton(panels, o), dir, "t-c-filters.svg");
}

}  // namespace

std::vector<std::string> write_plots(const Result& r, const std::string& dir) {
  plot::make_plot_dir(dir);
  std::vector<std::string> paths;
  if (r.experiment == "family-trees") {
    paths.push_back(family_people_units(r, dir));
  } else if (r.experiment == "t-c") {
    paths.push_back(tc_filters(r, dir));
  } else {
    if (r.experiment == "symmetry") paths.push_back(symmetry(r, dir));
    if (r.experiment == "encoder") paths.push_back(encoder_codes(r, dir));
    paths.push_back(layered(r, dir));
  }
  return paths;
}

}  // namespace bp::paper
