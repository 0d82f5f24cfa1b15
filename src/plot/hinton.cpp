// Hinton diagrams: a square per weight, area ∝ |w|, white positive, black negative, on grey.
#include <algorithm>
#include <cmath>

#include "backprop/error.hpp"
#include "backprop/plot.hpp"
#include "plot/plot_internal.hpp"

namespace bp::plot {

namespace {

constexpr double kFill = 0.9;  // the side of a full-size square, as a share of its cell
constexpr const char* kBackground = "#808080";

double max_label_width(const std::vector<std::string>& labels, double size) {
  double w = 0;
  for (const auto& l : labels) w = std::max(w, text_width(l, size));
  return w;
}

void check_panel(const HintonPanel& p, size_t index) {
  BP_CHECK(p.rows > 0 && p.cols > 0 && p.rows <= 100000 && p.cols <= 100000,
           "hinton: panel {} has an empty or too large {}x{} grid", index + 1, p.rows, p.cols);
  BP_CHECK(p.weights.size() == static_cast<size_t>(p.rows * p.cols),
           "hinton: panel {} is {}x{} but has {} weights", index + 1, p.rows, p.cols,
           p.weights.size());
  BP_CHECK(p.row_labels.empty() || p.row_labels.size() == static_cast<size_t>(p.rows),
           "hinton: panel {} has {} rows but {} row labels", index + 1, p.rows,
           p.row_labels.size());
  BP_CHECK(p.col_labels.empty() || p.col_labels.size() == static_cast<size_t>(p.cols),
           "hinton: panel {} has {} columns but {} column labels", index + 1, p.cols,
           p.col_labels.size());
  for (size_t i = 0; i < p.weights.size(); ++i)
    BP_CHECK(std::isfinite(p.weights[i]), "hinton: panel {}: weight ({}, {}) is {}", index + 1,
             static_cast<int64_t>(i) / p.cols, static_cast<int64_t>(i) % p.cols, p.weights[i]);
  BP_CHECK(!p.has_bias || std::isfinite(p.bias), "hinton: panel {}: the bias is {}", index + 1,
           p.bias);
}

// One weight's square, centred in the cell at (x, y).
void square(Svg& svg, double x, double y, double cell, float w, double scale, const char* cls_pos,
            const char* cls_neg) {
  if (w == 0) return;
  const double side = kFill * cell * std::sqrt(std::min(1.0, std::fabs(w) / scale));
  const double off = (cell - side) / 2;
  svg.rect(x + off, y + off, side, side, w > 0 ? "#fff" : "#000", w > 0 ? cls_pos : cls_neg);
}

struct Layout {
  double font, title_h, col_label_h, row_label_w, bias_w, width, height;
  bool rotate_cols;
};

Layout layout(const HintonPanel& p, double cell) {
  Layout l{};
  l.font = std::clamp(cell * 0.5, 9.0, 13.0);
  l.title_h = p.title.empty() ? 0 : l.font + 10;
  const double col_w = max_label_width(p.col_labels, l.font);
  l.rotate_cols = col_w > cell;
  l.col_label_h = p.col_labels.empty() ? 0 : (l.rotate_cols ? col_w : l.font) + 6;
  l.row_label_w = p.row_labels.empty() ? 0 : max_label_width(p.row_labels, l.font) + 6;
  l.bias_w = p.has_bias ? std::max(cell, text_width("bias", l.font)) + cell / 2 : 0;
  const double grid_h = static_cast<double>(p.rows) * cell;
  l.width = std::max(l.bias_w + l.row_label_w + static_cast<double>(p.cols) * cell,
                     text_width(p.title, l.font + 1));
  l.height = l.title_h + l.col_label_h + std::max(grid_h, p.has_bias ? cell + l.font + 4 : 0.0);
  return l;
}

Svg draw_panel(const HintonPanel& p, double cell, double scale) {
  const Layout l = layout(p, cell);
  Svg svg(l.width, l.height);
  if (!p.title.empty())
    svg.text(l.width / 2, l.font + 2, p.title,
             {.size = l.font + 1, .anchor = "middle", .bold = true});
  const double gx = l.bias_w + l.row_label_w, gy = l.title_h + l.col_label_h;
  if (p.has_bias) {
    const double bx = (l.bias_w - cell / 2 - cell) / 2;
    svg.rect(bx, gy, cell, cell, kBackground, "bg");
    square(svg, bx, gy, cell, p.bias, scale, "bias pos", "bias neg");
    svg.text(bx + cell / 2, gy + cell + l.font + 2, "bias", {.size = l.font, .anchor = "middle"});
  }
  svg.rect(gx, gy, static_cast<double>(p.cols) * cell, static_cast<double>(p.rows) * cell,
           kBackground, "bg");
  for (int64_t r = 0; r < p.rows; ++r) {
    const double y = gy + static_cast<double>(r) * cell;
    if (!p.row_labels.empty())
      svg.text(gx - 4, y + cell / 2, p.row_labels[static_cast<size_t>(r)],
               {.size = l.font, .anchor = "end", .centered = true});
    for (int64_t c = 0; c < p.cols; ++c)
      square(svg, gx + static_cast<double>(c) * cell, y, cell,
             p.weights[static_cast<size_t>(r * p.cols + c)], scale, "pos", "neg");
  }
  for (int64_t c = 0; c < static_cast<int64_t>(p.col_labels.size()); ++c) {
    const double x = gx + (static_cast<double>(c) + 0.5) * cell;
    const std::string& label = p.col_labels[static_cast<size_t>(c)];
    if (l.rotate_cols)
      svg.text(x, gy - 4, label, {.size = l.font, .centered = true, .rotate = -90});
    else
      svg.text(x, gy - 5, label, {.size = l.font, .anchor = "middle"});
  }
  return svg;
}

}  // namespace

HintonPanel panel(const Tensor& weights, std::string title) {
  BP_CHECK(weights.defined() && (weights.dim() == 1 || weights.dim() == 2),
           "hinton: weights must be a 1-D or 2-D tensor, got shape {}",
           weights.defined() ? to_string(weights.shape()) : std::string("(undefined)"));
  HintonPanel p;
  p.title = std::move(title);
  p.rows = weights.dim() == 2 ? weights.size(0) : 1;
  p.cols = weights.dim() == 2 ? weights.size(1) : weights.size(0);
  auto v = weights.values();
  p.weights.assign(v.begin(), v.end());
  return p;
}

std::vector<HintonPanel> unit_panels(const Tensor& weight, const Tensor* bias,
                                     std::pair<int64_t, int64_t> grid,
                                     const std::vector<std::string>& names) {
  BP_CHECK(weight.defined() && weight.dim() == 2,
           "hinton: a layer's weights must be a (units, inputs) matrix, got shape {}",
           weight.defined() ? to_string(weight.shape()) : std::string("(undefined)"));
  const int64_t units = weight.size(0), inputs = weight.size(1);
  auto [h, w] = grid;
  if (h == 0 && w == 0) {
    h = 1;
    w = inputs;
  }
  BP_CHECK(h > 0 && w > 0 && h * w == inputs,
           "hinton: a {}x{} grid does not hold a unit's {} inputs", h, w, inputs);
  BP_CHECK(bias == nullptr || (bias->defined() && bias->numel() == units),
           "hinton: {} units but the bias has shape {}", units,
           bias && bias->defined() ? to_string(bias->shape()) : std::string("(undefined)"));
  BP_CHECK(names.empty() || names.size() == static_cast<size_t>(units),
           "hinton: {} units but {} names", units, names.size());
  std::vector<HintonPanel> panels;
  auto v = weight.values();
  for (int64_t u = 0; u < units; ++u) {
    HintonPanel p;
    p.title = names.empty() ? fmt::format("unit {}", u + 1) : names[static_cast<size_t>(u)];
    p.rows = h;
    p.cols = w;
    p.weights.assign(v.begin() + u * inputs, v.begin() + (u + 1) * inputs);
    if (bias) {
      p.has_bias = true;
      p.bias = bias->values()[static_cast<size_t>(u)];
    }
    panels.push_back(std::move(p));
  }
  return panels;
}

Svg hinton(const std::vector<HintonPanel>& panels, const HintonOptions& options) {
  BP_CHECK(!panels.empty(), "hinton: no panels to draw");
  BP_CHECK(std::isfinite(options.scale) && options.scale >= 0,
           "hinton: scale must be a finite number >= 0, got {}", options.scale);
  BP_CHECK(std::isfinite(options.cell) && options.cell >= 4 && options.cell <= 1000,
           "hinton: cell size must be in [4, 1000] pixels, got {}", options.cell);
  BP_CHECK(options.columns >= 0, "hinton: columns must be >= 0, got {}", options.columns);
  double largest = 0;
  for (size_t i = 0; i < panels.size(); ++i) {
    check_panel(panels[i], i);
    for (float w : panels[i].weights)
      largest = std::max(largest, static_cast<double>(std::fabs(w)));
    if (panels[i].has_bias)
      largest = std::max(largest, static_cast<double>(std::fabs(panels[i].bias)));
  }
  const double scale = options.scale > 0 ? options.scale : largest > 0 ? largest : 1.0;

  const auto n = static_cast<int64_t>(panels.size());
  const int64_t columns =
      options.columns > 0
          ? std::min(options.columns, n)
          : (n <= 6 ? n : static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(n)))));
  std::vector<Svg> drawn;
  double cell_w = 0, cell_h = 0;
  for (const auto& p : panels) {
    drawn.push_back(draw_panel(p, options.cell, scale));
    cell_w = std::max(cell_w, drawn.back().width());
    cell_h = std::max(cell_h, drawn.back().height());
  }
  const int64_t rows = (n + columns - 1) / columns;
  const double margin = 10, gap = std::max(12.0, options.cell * 0.75);
  const double title_h = options.title.empty() ? 0 : 26;
  const double legend_h = options.legend ? 24 : 0;
  const std::string legend_text =
      fmt::format("white: positive, black: negative; a full square is |w| = {:.3g}", scale);
  const double content =
      static_cast<double>(columns) * cell_w + static_cast<double>(columns - 1) * gap;
  double width = 2 * margin + content;
  if (options.legend) width = std::max(width, 2 * margin + 40 + text_width(legend_text, 11));
  if (!options.title.empty()) width = std::max(width, 2 * margin + text_width(options.title, 15));
  const double height = 2 * margin + title_h + static_cast<double>(rows) * cell_h +
                        static_cast<double>(rows - 1) * gap + legend_h;
  Svg svg(width, height);
  svg.rect(0, 0, width, height, "#fff");
  if (!options.title.empty())
    svg.text(width / 2, margin + 15, options.title, {.size = 15, .anchor = "middle", .bold = true});
  for (int64_t i = 0; i < n; ++i) {
    // The panels are centred under the title when the title or legend is wider.
    const double x = (width - content) / 2 + static_cast<double>(i % columns) * (cell_w + gap);
    const double y = margin + title_h + static_cast<double>(i / columns) * (cell_h + gap);
    // Centre each panel in its slot so that panels of different sizes line up.
    const Svg& p = drawn[static_cast<size_t>(i)];
    svg.place(p, x + (cell_w - p.width()) / 2, y);
  }
  if (options.legend) {
    const double y = height - margin - 14;
    svg.rect(margin, y, 14, 14, kBackground);
    svg.rect(margin + 2, y + 2, 10, 10, "#fff");
    svg.rect(margin + 18, y, 14, 14, kBackground);
    svg.rect(margin + 20, y + 2, 10, 10, "#000");
    svg.text(margin + 40, y + 7, legend_text, {.size = 11, .centered = true});
  }
  return svg;
}

Svg hinton(const HintonPanel& panel, const HintonOptions& options) {
  return hinton(std::vector<HintonPanel>{panel}, options);
}

}  // namespace bp::plot
