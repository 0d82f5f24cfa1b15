// Pictures of networks and training runs as SVG: Hinton diagrams of weights (as in Rumelhart,
// Hinton & Williams 1986), line charts of per-epoch curves, confusion matrices, and an HTML report
// that puts a run's settings, curves and matrices on one self-contained page.
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "backprop/export.hpp"
#include "backprop/tensor.hpp"
#include "backprop/train.hpp"

namespace bp::plot {

// `text` with &, <, >, " and ' replaced by XML entities (for element text and attribute values).
BP_API std::string xml_escape(std::string_view text);

struct BP_API TextStyle {
  double size = 12;              // font size in pixels
  std::string anchor = "start";  // text-anchor: start, middle or end
  std::string fill = "#000";
  bool bold = false;
  bool centered = false;  // vertically centred on y (else y is the baseline)
  double rotate = 0;      // degrees, clockwise, about (x, y)
};

// A minimal SVG document: shapes are appended in drawing order; every text is escaped.
// Coordinates are pixels, y downwards; the document has width, height and a matching viewBox.
class BP_API Svg {
 public:
  // Requires finite width, height > 0; throws bp::Error otherwise.
  Svg(double width, double height);
  double width() const { return width_; }
  double height() const { return height_; }

  // `cls` becomes the element's class attribute (omitted when empty); `stroke` empty: no outline.
  void rect(double x, double y, double w, double h, std::string_view fill,
            std::string_view cls = {}, std::string_view stroke = {}, double stroke_width = 1);
  void line(double x1, double y1, double x2, double y2, std::string_view stroke,
            double stroke_width = 1, std::string_view dash = {});
  void polyline(std::span<const std::pair<double, double>> points, std::string_view stroke,
                double stroke_width = 2, std::string_view cls = {});
  void circle(double cx, double cy, double r, std::string_view fill, std::string_view cls = {});
  void text(double x, double y, std::string_view text, const TextStyle& style = {});
  // Draws `other` with its top-left corner at (x, y).
  void place(const Svg& other, double x, double y);

  // The document: an <svg> element with xmlns, width, height and viewBox (for inlining in HTML).
  std::string str() const;
  // Writes str() behind an XML declaration to `path` atomically. Throws bp::Error naming the path.
  void save(const std::string& path) const;

  // The document's rectangles (fills given as #rgb or #rrggbb) rasterised on white, `scale`
  // pixels per unit, edges anti-aliased, as a PNG file. Text, lines and circles are left out:
  // this is for pictures made of rectangles, such as the squares of a Hinton diagram. Requires
  // 0 < scale <= 16 and at most 2^26 pixels; throws bp::Error otherwise.
  std::vector<unsigned char> png(double scale = 1) const;
  // Writes png(scale) to `path` atomically. Throws bp::Error naming the path.
  void save_png(const std::string& path, double scale = 1) const;

 private:
  struct Box {
    double x, y, w, h;
    unsigned char r, g, b;
  };
  double width_, height_;
  std::string body_;
  std::vector<Box> boxes_;  // the filled rectangles, for png()
};

// A PNG file of an 8-bit RGB image (rgb: width × height × 3 bytes, row by row). Throws bp::Error
// on mismatched sizes.
BP_API std::vector<unsigned char> encode_png(int64_t width, int64_t height,
                                             std::span<const unsigned char> rgb);

// ---- Hinton diagrams ----

// One grid of weights: a square per weight on a grey background, its area proportional to |w|
// (side ∝ sqrt(|w| / scale)), white for a positive weight, black for a negative one, none for 0.
struct BP_API HintonPanel {
  std::string title{};
  std::vector<float> weights{};  // rows × cols, row-major
  int64_t rows = 0, cols = 0;
  std::vector<std::string> row_labels{}, col_labels{};  // empty, or one per row / column
  bool has_bias = false;  // the unit's bias, drawn as one square apart, left of the grid
  float bias = 0;
};

struct BP_API HintonOptions {
  std::string title{};  // above all panels
  double scale = 0;     // |w| drawn at full size (90% of a cell); 0: the largest |w| drawn
  double cell = 24;     // pixels per weight
  int64_t columns = 0;  // panels per row; 0: all in one row up to 6, else about square
  bool legend = true;   // a line under the panels: the colours and the scale
};

// A panel of a 2-D tensor (a 1-D tensor is one row). Throws bp::Error for another rank.
BP_API HintonPanel panel(const Tensor& weights, std::string title = {});

// One panel per unit (row) of a layer's weight matrix (units × inputs), each unit's inputs laid
// out as a grid of shape {h, w} (h·w must equal inputs; an empty grid: one row) with the unit's
// bias beside it when `bias` is given (units values): receptive fields drawn as images. Titles
// are `names` (one per unit) or "unit 1", "unit 2", .... Throws bp::Error on mismatched sizes.
BP_API std::vector<HintonPanel> unit_panels(const Tensor& weight, const Tensor* bias = nullptr,
                                            std::pair<int64_t, int64_t> grid = {0, 0},
                                            const std::vector<std::string>& names = {});

// The panels side by side, drawn to one shared scale so that squares compare across panels.
// Throws bp::Error on an empty list, a panel whose sizes do not match its weights or labels, a
// non-finite weight or a negative or non-finite scale.
BP_API Svg hinton(const std::vector<HintonPanel>& panels, const HintonOptions& options = {});
// One matrix; the options' title, the panel's labels.
BP_API Svg hinton(const HintonPanel& panel, const HintonOptions& options = {});

// ---- charts ----

struct BP_API Series {
  std::string name{};
  std::vector<double> x{}, y{};  // same length; a non-finite y leaves a gap
};

struct BP_API ChartOptions {
  std::string title{}, x_label = "epoch", y_label{};
  double width = 640, height = 400;
  // The y axis spans at least [y_min, y_max] when given (finite); otherwise the data's range.
  double y_min = std::numeric_limits<double>::quiet_NaN();
  double y_max = std::numeric_limits<double>::quiet_NaN();
};

// Lines (polylines of class "series", one per run of finite points, dots when there are few) on
// axes with round-number ticks, grid lines, labels and a legend. Throws bp::Error when a series'
// x and y differ in length or an x is non-finite.
BP_API Svg line_chart(const std::vector<Series>& series, const ChartOptions& options = {});

// confusion[true][predicted] as a heatmap: each cell shaded by its share of its row (recall for
// the diagonal) and labelled with its count; rows are true classes, columns predictions.
// `class_names` empty: 0, 1, .... Throws bp::Error unless the matrix is square, non-empty, of
// non-negative counts, with as many names as classes.
BP_API Svg confusion_matrix(const std::vector<std::vector<int64_t>>& confusion,
                            const std::vector<std::string>& class_names,
                            const std::string& title = {});

// ---- training runs ----

// Per-epoch curves of a run: the training loss and each evaluation's loss ("train", "val", ...),
// and the same for accuracy.
BP_API std::vector<Series> loss_series(const std::vector<train::EpochStats>& history);
BP_API std::vector<Series> accuracy_series(const std::vector<train::EpochStats>& history);

// Checks, before a long run starts and without creating anything, that plots can be written to
// `dir`: an existing directory where files can be written, or a path that can be created (its
// nearest existing ancestor is a writable directory). Throws bp::Error naming the path otherwise
// (e.g. it or an ancestor is a file).
BP_API void check_plot_dir(const std::string& dir);
// Creates `dir` (and its parents) if needed, then check_plot_dir(dir).
BP_API void make_plot_dir(const std::string& dir);

// Writes dir/loss.svg and, for a classifier, dir/accuracy.svg and dir/confusion_<set>.svg for each
// evaluation set of the last epoch (set names reduced to letters, digits, '-' and '_'). Returns
// the paths written. Throws bp::Error when a file cannot be written.
BP_API std::vector<std::string> write_training_plots(
    const std::string& dir, const std::vector<train::EpochStats>& history, bool classification,
    const std::vector<std::string>& class_names = {});

struct BP_API Report {
  std::string title = "Training report";
  std::vector<std::pair<std::string, std::string>> settings{};  // shown as a table, in order
  std::vector<train::EpochStats> history{};
  bool classification = true;
  std::vector<std::string> class_names{};  // empty: 0, 1, ...
};

// One self-contained HTML page (inline CSS and SVG, no external resources): the settings, the
// curves, the per-epoch table and, for a classifier, each evaluation set's confusion matrix with
// per-class precision and recall from the last epoch.
BP_API std::string html_report(const Report& report);

}  // namespace bp::plot
