#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "backprop/plot.hpp"
#include "plot/svg_test_util.hpp"
#include "test_util.hpp"

namespace bp::plot {
namespace {

using bp::testing::elements;
using bp::testing::expect_error;
using bp::testing::expect_well_formed;
using bp::testing::texts;

std::vector<std::pair<double, double>> points_of(const std::string& points) {
  std::vector<std::pair<double, double>> out;
  std::stringstream ss(points);
  for (std::string pair; ss >> pair;) {
    const size_t comma = pair.find(',');
    out.emplace_back(std::stod(pair.substr(0, comma)), std::stod(pair.substr(comma + 1)));
  }
  return out;
}

TEST(LineChart, MonotonicValuesMapToMonotonicCoordinates) {
  Series falling{.name = "train", .x = {1, 2, 3, 4, 5}, .y = {2.0, 1.1, 0.7, 0.5, 0.45}};
  Series rising{.name = "val <&>", .x = {1, 2, 3, 4, 5}, .y = {0.1, 0.5, 0.6, 0.8, 0.95}};
  const std::string svg = line_chart({falling, rising}, {.title = "loss", .y_label = "loss"}).str();
  expect_well_formed(svg);
  auto lines = elements(svg, "polyline");
  ASSERT_EQ(lines.size(), 2u);
  auto down = points_of(lines[0]["points"]), up = points_of(lines[1]["points"]);
  ASSERT_EQ(down.size(), 5u);
  ASSERT_EQ(up.size(), 5u);
  for (size_t i = 1; i < 5; ++i) {
    EXPECT_GT(down[i].first, down[i - 1].first);    // x grows to the right
    EXPECT_GT(down[i].second, down[i - 1].second);  // a falling value moves down the page
    EXPECT_LT(up[i].second, up[i - 1].second);      // a rising one up
    EXPECT_EQ(up[i].first, down[i].first);          // the same epochs at the same x
  }
  EXPECT_NE(lines[0]["stroke"], lines[1]["stroke"]);
  // Equal steps in x are equal steps on the page.
  EXPECT_NEAR(down[1].first - down[0].first, down[4].first - down[3].first, 0.02);
  // Every point lies inside the chart.
  auto root = elements(svg, "svg")[0];
  for (const auto& [x, y] : down) {
    EXPECT_GE(x, 0);
    EXPECT_LE(x, std::stod(root["width"]));
    EXPECT_GE(y, 0);
    EXPECT_LE(y, std::stod(root["height"]));
  }
  auto words = texts(svg);
  auto has = [&](const std::string& t) {
    return std::find(words.begin(), words.end(), t) != words.end();
  };
  EXPECT_TRUE(has("train"));
  EXPECT_TRUE(has("val &lt;&amp;&gt;"));  // the legend, escaped
  EXPECT_TRUE(has("epoch"));
  EXPECT_TRUE(has("loss"));
  // Round-number ticks spanning the data: 0 to 2 in steps of 0.5 (or finer).
  EXPECT_TRUE(has("0"));
  EXPECT_TRUE(has("2"));
  EXPECT_TRUE(has("0.5"));
}

TEST(LineChart, NonFiniteValuesLeaveAGapAndEmptyChartsSaySo) {
  Series s{.name = "s", .x = {1, 2, 3, 4, 5}, .y = {1, 2, NAN, 4, 5}};
  auto lines = elements(line_chart({s}).str(), "polyline");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(points_of(lines[0]["points"]).size(), 2u);
  EXPECT_EQ(points_of(lines[1]["points"]).size(), 2u);
  const std::string empty = line_chart({}).str();
  expect_well_formed(empty);
  auto words = texts(empty);
  EXPECT_NE(std::find(words.begin(), words.end(), "no data"), words.end());
  // One point: a dot, no line, and a sensible axis around it.
  const std::string one = line_chart({Series{.name = "a", .x = {1}, .y = {0.5}}}).str();
  expect_well_formed(one);
  EXPECT_EQ(elements(one, "polyline").size(), 0u);
  EXPECT_EQ(elements(one, "circle").size(), 1u);
}

TEST(LineChart, ExtremeValuesStillMakeADocument) {
  // Values whose spacing is below the tick step (1e17 + 2 == 1e17 in double), huge and tiny ranges.
  for (const Series& s : {Series{.name = "a", .x = {1, 2}, .y = {1e17, 1e17 + 16}},
                          Series{.name = "b", .x = {1, 2}, .y = {-1e300, 1e300}},
                          Series{.name = "c", .x = {0, 1e-300}, .y = {1e-300, 2e-300}},
                          Series{.name = "d", .x = {1, 2}, .y = {5, 5}}}) {
    const std::string svg = line_chart({s}).str();
    expect_well_formed(svg);
    EXPECT_EQ(elements(svg, "polyline").size(), 1u) << s.name;
    EXPECT_LE(elements(svg, "line").size(), 2u * 102 + 2 + 1) << s.name;
  }
}

TEST(LineChart, BadInputIsRefused) {
  expect_error(
      [] {
        line_chart({Series{.name = "a", .x = {1, 2}, .y = {1}}});
      },
      "series 'a' has 2 x values but 1 y values");
  expect_error([] { line_chart({Series{.name = "a", .x = {NAN}, .y = {1}}}); }, "x[0] is nan");
  expect_error([] { line_chart({}, {.width = 0}); }, "size");
  expect_error([] { line_chart({}, {.width = NAN}); }, "size");
}

TEST(ConfusionMatrix, CountsInCellsShadedByRowShare) {
  const std::vector<std::vector<int64_t>> m = {{50, 0, 0}, {3, 40, 7}, {0, 0, 0}};
  const std::string svg = confusion_matrix(m, {"cat", "dog & wolf", "<bird>"}, "test").str();
  expect_well_formed(svg);
  auto cells = elements(svg, "rect");
  std::vector<std::string> fills;
  for (auto& c : cells)
    if (c["class"] == "cell") fills.push_back(c["fill"]);
  ASSERT_EQ(fills.size(), 9u);
  EXPECT_EQ(fills[0], "#08306b");  // 50 of 50: the darkest
  EXPECT_EQ(fills[1], "#ffffff");  // 0: white
  EXPECT_EQ(fills[8], "#ffffff");  // an empty row stays white
  // 40 of 50 is darker than 7 of 50, which is darker than 3 of 50 (less red in the mix).
  auto red = [](const std::string& f) { return std::stoi(f.substr(1, 2), nullptr, 16); };
  EXPECT_LT(red(fills[4]), red(fills[5]));
  EXPECT_LT(red(fills[5]), red(fills[3]));
  auto words = texts(svg);
  for (const char* w : {"50", "3", "40", "7", "dog &amp; wolf", "&lt;bird&gt;", "predicted class",
                        "true class", "test"})
    EXPECT_NE(std::find(words.begin(), words.end(), w), words.end()) << w;
  // Nine counts, one per cell.
  size_t counts = 0;
  for (const auto& w : words)
    counts += !w.empty() && std::isdigit(static_cast<unsigned char>(w[0]));
  EXPECT_EQ(counts, 9u);
}

TEST(ConfusionMatrix, BadInputIsRefused) {
  expect_error([] { confusion_matrix({}, {}); }, "no classes");
  expect_error([] { confusion_matrix({{1, 2}, {3}}, {}); }, "row 1 has 1 counts, expected 2");
  expect_error([] { confusion_matrix({{1, -2}, {3, 4}}, {}); }, "negative count");
  expect_error([] { confusion_matrix({{1}}, {"a", "b"}); }, "1 classes but 2 names");
}

TEST(Svg, EscapesTextAndAttributes) {
  EXPECT_EQ(xml_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
  EXPECT_EQ(xml_escape(std::string("x\x01y", 3)), "x y");
  Svg svg(10, 10);
  svg.text(1, 2, "<&\">");
  svg.rect(0, 0, 1, 1, "#fff", "a\"b");
  const std::string s = svg.str();
  expect_well_formed(s);
  EXPECT_NE(s.find(">&lt;&amp;&quot;&gt;</text>"), std::string::npos);
  EXPECT_NE(s.find("class=\"a&quot;b\""), std::string::npos);
  expect_error([] { Svg(0, 10); }, "not positive");
  expect_error([] { Svg(NAN, 10); }, "not positive");
}

}  // namespace
}  // namespace bp::plot
