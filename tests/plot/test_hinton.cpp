#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "backprop/plot.hpp"
#include "plot/svg_test_util.hpp"
#include "test_util.hpp"

namespace bp::plot {
namespace {

using bp::testing::elements;
using bp::testing::expect_error;
using bp::testing::expect_well_formed;

struct Square {
  double x, y, side;
  std::string cls, fill;
};

// The weight squares (class "pos" or "neg") of a diagram, in drawing order (row by row).
std::vector<Square> weight_squares(const std::string& svg, const std::string& which = "") {
  std::vector<Square> out;
  for (auto& a : elements(svg, "rect")) {
    const std::string& cls = a["class"];
    const bool weight = which.empty() ? (cls == "pos" || cls == "neg") : cls.find(which) == 0;
    if (!weight) continue;
    EXPECT_EQ(a["width"], a["height"]) << "not a square";
    out.push_back({std::stod(a["x"]), std::stod(a["y"]), std::stod(a["width"]), cls, a["fill"]});
  }
  return out;
}

TEST(Hinton, OneSquarePerWeightSizedByMagnitudeColouredBySign) {
  // Distinct magnitudes, both signs; one zero weight draws nothing.
  const std::vector<float> w = {0.5f, -2.0f, 1.0f, 0.0f, -0.25f, 4.0f};
  HintonPanel p{.weights = w, .rows = 2, .cols = 3};
  const double cell = 30;
  const std::string svg = hinton(p, {.cell = cell}).str();
  expect_well_formed(svg);
  auto squares = weight_squares(svg);
  ASSERT_EQ(squares.size(), 5u);
  std::vector<float> drawn;  // the non-zero weights in order
  for (float v : w)
    if (v != 0) drawn.push_back(v);
  for (size_t i = 0; i < squares.size(); ++i) {
    EXPECT_EQ(squares[i].cls, drawn[i] > 0 ? "pos" : "neg") << i;
    EXPECT_EQ(squares[i].fill, drawn[i] > 0 ? "#fff" : "#000") << i;
    // Area ∝ |w|: side = 0.9 · cell · sqrt(|w| / max|w|), to the file's two decimals.
    EXPECT_NEAR(squares[i].side, 0.9 * cell * std::sqrt(std::fabs(drawn[i]) / 4.0), 0.01) << i;
    for (size_t j = 0; j < squares.size(); ++j)
      if (std::fabs(drawn[i]) < std::fabs(drawn[j])) {
        EXPECT_LT(squares[i].side, squares[j].side) << i << " " << j;
      }
  }
  // The largest |w| fills 90% of its cell.
  EXPECT_NEAR(squares[4].side, 0.9 * cell, 0.01);
  // Row by row: squares of row 0 above those of row 1; columns left to right.
  EXPECT_LT(squares[0].y + squares[0].side / 2, squares[3].y + squares[3].side / 2);
  EXPECT_LT(squares[0].x, squares[1].x);
  EXPECT_LT(squares[1].x, squares[2].x);
}

TEST(Hinton, SharedScaleComparesPanels) {
  HintonPanel small{.title = "small", .weights = {0.1f, -0.1f}, .rows = 1, .cols = 2};
  HintonPanel large{.title = "large", .weights = {1.0f, -1.0f}, .rows = 1, .cols = 2};
  const std::string svg = hinton({small, large}, {.cell = 20}).str();
  expect_well_formed(svg);
  auto squares = weight_squares(svg);
  ASSERT_EQ(squares.size(), 4u);
  // One scale (the largest |w| of all panels): 0.1 is drawn sqrt(0.1) the side of 1.
  EXPECT_NEAR(squares[0].side / squares[2].side, std::sqrt(0.1), 0.01);
  EXPECT_NEAR(squares[2].side, 18.0, 0.01);
  // A scale given explicitly: a weight of |w| = scale is full size, a larger one is clamped.
  auto fixed = weight_squares(hinton({small, large}, {.scale = 0.1, .cell = 20}).str());
  ASSERT_EQ(fixed.size(), 4u);
  for (const auto& s : fixed) EXPECT_NEAR(s.side, 18.0, 0.01);
}

TEST(Hinton, UnitPanelsShowEachUnitsInputsAsAnImageWithItsBias) {
  // 3 units with 6 inputs each, drawn as 2×3 receptive fields.
  std::vector<float> w(18);
  for (size_t i = 0; i < w.size(); ++i) w[i] = (i % 2 ? -1.0f : 1.0f) * static_cast<float>(i + 1);
  Tensor weight = Tensor::from_data(w, {3, 6});
  Tensor bias = Tensor::from_data({-5.0f, 0.5f, 20.0f}, {3});
  auto panels = unit_panels(weight, &bias, {2, 3}, {"a", "b<&\"", "c"});
  ASSERT_EQ(panels.size(), 3u);
  EXPECT_EQ(panels[1].rows, 2);
  EXPECT_EQ(panels[1].cols, 3);
  EXPECT_EQ(panels[1].weights[0], 7.0f);
  EXPECT_TRUE(panels[2].has_bias);
  EXPECT_EQ(panels[2].bias, 20.0f);
  const std::string svg = hinton(panels, {.title = "receptive fields", .cell = 16}).str();
  expect_well_formed(svg);
  EXPECT_EQ(weight_squares(svg).size(), 18u);
  auto biases = weight_squares(svg, "bias");
  ASSERT_EQ(biases.size(), 3u);
  EXPECT_EQ(biases[0].cls, "bias neg");
  EXPECT_EQ(biases[2].cls, "bias pos");
  // The bias counts towards the shared scale: 20 is the largest and fills its cell.
  EXPECT_NEAR(biases[2].side, 0.9 * 16, 0.01);
  EXPECT_NE(svg.find("b&lt;&amp;&quot;"), std::string::npos);
  // Unit panels without a grid are one row; names default to "unit i".
  auto rows = unit_panels(weight);
  EXPECT_EQ(rows[0].rows, 1);
  EXPECT_EQ(rows[0].cols, 6);
  EXPECT_EQ(rows[2].title, "unit 3");
  EXPECT_FALSE(rows[0].has_bias);
}

TEST(Hinton, LabelsAreEscapedAndTheDocumentHasASize) {
  HintonPanel p{.weights = {1, -1, 2, -2},
                .rows = 2,
                .cols = 2,
                .row_labels = {"<in>", "a&b"},
                .col_labels = {"\"q\"", "it's"}};
  const std::string svg = hinton(p, {.title = "T & <U>"}).str();
  expect_well_formed(svg);
  for (const char* escaped :
       {"&lt;in&gt;", "a&amp;b", "&quot;q&quot;", "it&#39;s", "T &amp; &lt;U&gt;"})
    EXPECT_NE(svg.find(escaped), std::string::npos) << escaped;
  EXPECT_EQ(svg.find("<in>"), std::string::npos);
  auto root = elements(svg, "svg");
  ASSERT_EQ(root.size(), 1u);
  EXPECT_EQ(root[0]["xmlns"], "http://www.w3.org/2000/svg");
  EXPECT_GT(std::stod(root[0]["width"]), 0);
  EXPECT_EQ(root[0]["viewBox"], "0 0 " + root[0]["width"] + " " + root[0]["height"]);
}

TEST(Hinton, PanelOfATensor) {
  Tensor t = Tensor::from_data({1, 2, 3, 4, 5, 6}, {2, 3});
  HintonPanel p = panel(t, "w");
  EXPECT_EQ(p.rows, 2);
  EXPECT_EQ(p.cols, 3);
  EXPECT_EQ(p.weights[5], 6.0f);
  HintonPanel row = panel(Tensor::from_data({1, 2}, {2}));
  EXPECT_EQ(row.rows, 1);
  EXPECT_EQ(row.cols, 2);
  expect_error([] { panel(Tensor::zeros({2, 2, 2})); }, "1-D or 2-D");
}

TEST(Hinton, BadInputIsRefused) {
  HintonPanel ok{.weights = {1, 2}, .rows = 1, .cols = 2};
  expect_error([] { hinton(std::vector<HintonPanel>{}); }, "no panels");
  expect_error(
      [&] {
        hinton(HintonPanel{.weights = {1, 2, 3}, .rows = 1, .cols = 2});
      },
      "3 weights");
  expect_error(
      [&] {
        hinton(HintonPanel{.weights = {1, NAN}, .rows = 1, .cols = 2});
      },
      "weight (0, 1) is nan");
  expect_error(
      [&] {
        hinton(HintonPanel{.weights = {1, 2}, .rows = 1, .cols = 2, .row_labels = {"a", "b"}});
      },
      "2 row labels");
  expect_error([&] { hinton(ok, {.scale = -1}); }, "scale");
  expect_error([&] { hinton(ok, {.scale = INFINITY}); }, "scale");
  expect_error([&] { hinton(ok, {.cell = 0}); }, "cell size");
  Tensor w = Tensor::zeros({2, 6});
  Tensor b = Tensor::zeros({3});
  expect_error([&] { unit_panels(w, nullptr, {2, 2}); }, "2x2 grid does not hold a unit's 6");
  expect_error([&] { unit_panels(w, &b); }, "2 units but the bias");
  expect_error([&] { unit_panels(w, nullptr, {0, 0}, {"x"}); }, "2 units but 1 names");
}

}  // namespace
}  // namespace bp::plot
