// Line charts of per-epoch curves and confusion-matrix heatmaps.
#include <algorithm>
#include <cmath>

#include "backprop/error.hpp"
#include "backprop/plot.hpp"
#include "plot/plot_internal.hpp"

namespace bp::plot {

namespace {

constexpr const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

// An axis from lo to hi in steps of `step`, all three round numbers (1, 2 or 5 × 10^k).
struct Axis {
  double lo, hi, step;
  // The tick values; none when the range is degenerate (at most a few dozen otherwise). Counted by
  // index: with huge values, lo + step can equal lo.
  std::vector<double> ticks() const {
    std::vector<double> out;
    if (!(std::isfinite(lo) && std::isfinite(hi) && step > 0 && hi > lo)) return out;
    for (int i = 0; i <= 100 && lo + i * step <= hi + step * 1e-6; ++i)
      out.push_back(lo + i * step);
    return out;
  }
  double at(double v, double from, double to) const {
    return from + (v - lo) / (hi - lo) * (to - from);
  }
};

Axis nice_axis(double lo, double hi, bool integer) {
  if (!(hi > lo)) {
    const double pad = lo == 0 ? 1 : std::fabs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / 5;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double r = raw / mag;
  double step = (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
  if (integer) step = std::max(step, 1.0);
  return {std::floor(lo / step + 1e-9) * step, std::ceil(hi / step - 1e-9) * step, step};
}

std::string tick_label(double v, double step) {
  v = std::round(v / step) * step;
  if (std::fabs(v) < step * 1e-6) v = 0;
  return fmt::format("{:.6g}", v);
}

// The box the finite points of every series span, checking the series on the way.
struct DataBox {
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  bool integer_x = true;
  bool empty() const { return !(xmin <= xmax); }
};

DataBox data_box(const std::vector<Series>& series) {
  DataBox box;
  for (const auto& s : series) {
    BP_CHECK(s.x.size() == s.y.size(), "line chart: series '{}' has {} x values but {} y values",
             s.name, s.x.size(), s.y.size());
    for (size_t i = 0; i < s.x.size(); ++i) {
      BP_CHECK(std::isfinite(s.x[i]), "line chart: series '{}': x[{}] is {}", s.name, i, s.x[i]);
      if (!std::isfinite(s.y[i])) continue;
      box.xmin = std::min(box.xmin, s.x[i]);
      box.xmax = std::max(box.xmax, s.x[i]);
      box.ymin = std::min(box.ymin, s.y[i]);
      box.ymax = std::max(box.ymax, s.y[i]);
      box.integer_x = box.integer_x && s.x[i] == std::round(s.x[i]);
    }
  }
  return box;
}

// Where the plot goes, in pixels: inside the margins, below the title, left of the legend.
struct PlotArea {
  double left, right, top, bottom;
};

PlotArea plot_area(const std::vector<Series>& series, const ChartOptions& options) {
  double legend_w = 0;
  for (const auto& s : series) legend_w = std::max(legend_w, text_width(s.name, 12) + 34);
  const PlotArea area{.left = 72,
                      .right = options.width - 16 - legend_w,
                      .top = options.title.empty() ? 16.0 : 40.0,
                      .bottom = options.height - 48};
  BP_CHECK(area.right - area.left >= 60, "line chart: {} pixels are too narrow for the legend",
           options.width);
  return area;
}

// Grid, ticks, tick labels, axes and their labels.
void draw_axes(Svg& svg, const PlotArea& p, const Axis& ax, const Axis& ay,
               const ChartOptions& options) {
  for (double v : ay.ticks()) {
    const double y = ay.at(v, p.bottom, p.top);
    svg.line(p.left, y, p.right, y, "#e4e4e4");
    svg.line(p.left - 5, y, p.left, y, "#333");
    svg.text(p.left - 8, y, tick_label(v, ay.step),
             {.size = 11, .anchor = "end", .centered = true});
  }
  for (double v : ax.ticks()) {
    const double x = ax.at(v, p.left, p.right);
    svg.line(x, p.top, x, p.bottom, "#e4e4e4");
    svg.line(x, p.bottom, x, p.bottom + 5, "#333");
    svg.text(x, p.bottom + 18, tick_label(v, ax.step), {.size = 11, .anchor = "middle"});
  }
  svg.line(p.left, p.bottom, p.right, p.bottom, "#333");
  svg.line(p.left, p.top, p.left, p.bottom, "#333");
  if (!options.x_label.empty())
    svg.text((p.left + p.right) / 2, options.height - 10, options.x_label,
             {.size = 12, .anchor = "middle"});
  if (!options.y_label.empty())
    svg.text(16, (p.top + p.bottom) / 2, options.y_label,
             {.size = 12, .anchor = "middle", .centered = true, .rotate = -90});
}

// Series number k: its line, broken where y is not finite, its points when there are few, and
// its legend entry.
void draw_series(Svg& svg, const PlotArea& p, const Axis& ax, const Axis& ay, const Series& s,
                 size_t k) {
  const char* colour = kPalette[k % std::size(kPalette)];
  std::vector<std::pair<double, double>> run;
  auto flush = [&] {
    if (run.size() > 1) svg.polyline(run, colour, 2, "series");
    run.clear();
  };
  for (size_t i = 0; i < s.x.size(); ++i) {
    if (!std::isfinite(s.y[i])) {
      flush();
      continue;
    }
    const double x = ax.at(s.x[i], p.left, p.right), y = ay.at(s.y[i], p.bottom, p.top);
    run.emplace_back(x, y);
    if (s.x.size() <= 60) svg.circle(x, y, 2.5, colour, "point");
  }
  flush();
  const double ly = p.top + 8 + 20 * static_cast<double>(k);
  svg.line(p.right + 12, ly, p.right + 36, ly, colour, 2.5);
  svg.text(p.right + 42, ly, s.name, {.size = 12, .centered = true});
}

}  // namespace

Svg line_chart(const std::vector<Series>& series, const ChartOptions& options) {
  BP_CHECK(std::isfinite(options.width) && std::isfinite(options.height) && options.width >= 200 &&
               options.height >= 150 && options.width <= 20000 && options.height <= 20000,
           "line chart: size {}x{} must be between 200x150 and 20000x20000", options.width,
           options.height);
  DataBox box = data_box(series);
  const bool empty = box.empty();
  if (empty) box = {.xmin = 0, .xmax = 1, .ymin = 0, .ymax = 1};
  if (std::isfinite(options.y_min)) box.ymin = std::min(box.ymin, options.y_min);
  if (std::isfinite(options.y_max)) box.ymax = std::max(box.ymax, options.y_max);
  const Axis ax = nice_axis(box.xmin, box.xmax, box.integer_x);
  const Axis ay = nice_axis(box.ymin, box.ymax, false);
  const PlotArea area = plot_area(series, options);

  Svg svg(options.width, options.height);
  svg.rect(0, 0, options.width, options.height, "#fff");
  if (!options.title.empty())
    svg.text(options.width / 2, 24, options.title, {.size = 15, .anchor = "middle", .bold = true});
  draw_axes(svg, area, ax, ay, options);
  if (empty)
    svg.text((area.left + area.right) / 2, (area.top + area.bottom) / 2, "no data",
             {.size = 13, .anchor = "middle", .fill = "#888"});
  for (size_t k = 0; k < series.size(); ++k) draw_series(svg, area, ax, ay, series[k], k);
  return svg;
}

namespace {

void check_confusion(const std::vector<std::vector<int64_t>>& confusion,
                     const std::vector<std::string>& class_names) {
  const size_t k = confusion.size();
  BP_CHECK(k > 0, "confusion matrix: no classes");
  BP_CHECK(k <= 1000, "confusion matrix: {} classes are too many to draw", k);
  for (size_t r = 0; r < k; ++r) {
    BP_CHECK(confusion[r].size() == k, "confusion matrix: row {} has {} counts, expected {}", r,
             confusion[r].size(), k);
    for (int64_t c : confusion[r])
      BP_CHECK(c >= 0, "confusion matrix: row {} has a negative count {}", r, c);
  }
  BP_CHECK(class_names.empty() || class_names.size() == k,
           "confusion matrix: {} classes but {} names", k, class_names.size());
}

// A cell of side `cell` at (x, y) holding `count`, shaded by its share of the row's `total`:
// white (0) to dark blue (1).
void draw_cell(Svg& svg, double x, double y, double cell, double font, int64_t count,
               int64_t total) {
  const double f = total > 0 ? static_cast<double>(count) / static_cast<double>(total) : 0.0;
  auto mix = [f](int from, int to) {
    return static_cast<int>(std::lround(from + (to - from) * f));
  };
  const std::string fill =
      fmt::format("#{:02x}{:02x}{:02x}", mix(255, 8), mix(255, 48), mix(255, 107));
  svg.rect(x, y, cell, cell, fill, "cell", "#ccc", 0.5);
  const std::string label = std::to_string(count);
  const double size = std::min(font, 0.9 * cell / (0.6 * static_cast<double>(label.size())));
  svg.text(x + cell / 2, y + cell / 2, label,
           {.size = size, .anchor = "middle", .fill = f > 0.5 ? "#fff" : "#000", .centered = true});
}

}  // namespace

Svg confusion_matrix(const std::vector<std::vector<int64_t>>& confusion,
                     const std::vector<std::string>& class_names, const std::string& title) {
  check_confusion(confusion, class_names);
  const size_t k = confusion.size();
  std::vector<std::string> names = class_names;
  for (size_t i = names.size(); i < k; ++i) names.push_back(std::to_string(i));

  const double cell = std::clamp(480.0 / static_cast<double>(k), 22.0, 44.0);
  const double font = std::clamp(cell * 0.36, 8.0, 13.0);
  double name_w = 0;
  for (const auto& n : names) name_w = std::max(name_w, text_width(n, font));
  const bool rotate = name_w > cell - 4;
  const double margin = 10, title_h = title.empty() ? 0 : 26, axis_h = 20;
  const double col_label_h = (rotate ? name_w : font) + 8;
  const double gx = margin + axis_h + name_w + 8;
  const double gy = margin + title_h + axis_h + col_label_h;
  const double side = cell * static_cast<double>(k);
  const double width = std::max(gx + side + margin, 2 * margin + text_width(title, 15));
  const double height = gy + side + margin;
  Svg svg(width, height);
  svg.rect(0, 0, width, height, "#fff");
  if (!title.empty())
    svg.text(width / 2, margin + 15, title, {.size = 15, .anchor = "middle", .bold = true});
  svg.text(gx + side / 2, margin + title_h + 12, "predicted class",
           {.size = 12, .anchor = "middle", .bold = true});
  svg.text(margin + 8, gy + side / 2, "true class",
           {.size = 12, .anchor = "middle", .bold = true, .centered = true, .rotate = -90});
  for (size_t r = 0; r < k; ++r) {
    int64_t total = 0;
    for (int64_t c : confusion[r]) total += c;
    const double y = gy + cell * static_cast<double>(r);
    svg.text(gx - 6, y + cell / 2, names[r], {.size = font, .anchor = "end", .centered = true});
    for (size_t c = 0; c < k; ++c)
      draw_cell(svg, gx + cell * static_cast<double>(c), y, cell, font, confusion[r][c], total);
  }
  for (size_t c = 0; c < k; ++c) {
    const double x = gx + cell * (static_cast<double>(c) + 0.5);
    if (rotate)
      svg.text(x, gy - 6, names[c], {.size = font, .centered = true, .rotate = -90});
    else
      svg.text(x, gy - 6, names[c], {.size = font, .anchor = "middle"});
  }
  return svg;
}

}  // namespace bp::plot
