// CSV time series through the real program: a forecaster trained with --window and --horizon,
// scored beside the naive last-value forecast, and the errors of a series too short.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

#include "cli/cli_fixture.hpp"

namespace bp {
namespace {

using bp::testing::CliFixture;
using bp::testing::Result;

class CliSeries : public CliFixture {
 protected:
  // One column, "value": sin(0.4·t) for t = 0..rows-1.
  std::string sine_csv(int rows) const {
    std::ofstream out(path("sine.csv"));
    out << "value\n";
    for (int t = 0; t < rows; ++t) out << std::sin(0.4 * t) << "\n";
    return "sine.csv";
  }
  // The two numbers after "MAE " in the line: the model's and the naive forecast's.
  static std::pair<double, double> maes(const std::string& out) {
    const size_t first = out.find("MAE ");
    const size_t naive = out.find("MAE ", first + 1);
    EXPECT_NE(naive, std::string::npos) << out;
    if (naive == std::string::npos) return {0, 0};
    return {std::stod(out.substr(first + 4)), std::stod(out.substr(naive + 4))};
  }
};

TEST_F(CliSeries, AnLstmForecasterBeatsTheNaiveLastValue) {
  const std::string csv = sine_csv(400);
  const Result r = ok({"train", "--data", csv, "--window", "12", "--horizon", "3", "--model",
                       "lstm(24),dense(3)", "--optimizer", "adam", "--lr", "0.01", "--epochs", "30",
                       "--batch", "16", "--out", "f.bp"});
  const auto [model, naive] = maes(r.out);
  EXPECT_GT(naive, 0.2) << r.out;        // a step of 0.4 rad moves sin by ~0.25 on average
  EXPECT_LT(model, naive / 3) << r.out;  // the forecaster follows the curve
  EXPECT_NE(r.out.find("over 78 forecasts of 3 steps"), std::string::npos) << r.out;
  const Result e =
      ok({"eval", "--model-file", "f.bp", "--data", csv, "--window", "12", "--horizon", "3"});
  const auto [eval_model, eval_naive] = maes(e.out);
  EXPECT_LT(eval_model, eval_naive / 3) << e.out;
  expect_error({"eval", "--model-file", "f.bp", "--data", csv, "--window", "10", "--horizon", "3"},
               {"--window 10 --horizon 3: the model forecasts 3 values from windows of 12 rows"});

  // The model file keeps its windows: eval needs no flags, info names them, and predict
  // forecasts the 3 values after the series' last 12 rows.
  EXPECT_EQ(maes(ok({"eval", "--model-file", "f.bp", "--data", csv}).out), maes(e.out));
  EXPECT_NE(
      ok({"info", "--model-file", "f.bp"})
          .out.find("forecaster: the next 3 values of column (the last) from the last 12 rows"),
      std::string::npos);
  const std::string next = ok({"predict", "--model-file", "f.bp", "--input", csv}).out;
  double v[3];
  ASSERT_EQ(std::sscanf(next.c_str(), "%lf,%lf,%lf", &v[0], &v[1], &v[2]), 3) << next;
  for (int h = 0; h < 3; ++h) EXPECT_NEAR(v[h], std::sin(0.4 * (400 + h)), 0.1) << next;
  expect_error({"predict", "--model-file", "f.bp", "--input", sine_csv(5)},
               {"sine.csv has 5 rows, fewer than the model's window of 12"});
}

TEST_F(CliSeries, AForecasterReadsItsTargetColumnByName) {
  {  // the target first, then a column that leads it by one step
    std::ofstream out(path("two.csv"));
    out << "target,lead\n";
    for (int t = 0; t < 300; ++t)
      out << std::sin(0.4 * t) << "," << std::sin(0.4 * (t + 1)) << "\n";
  }
  ok({"train", "--data", "two.csv", "--csv-label", "target", "--window", "6", "--model",
      "flatten,dense(1)", "--optimizer", "adam", "--lr", "0.01", "--epochs", "40", "--out",
      "t.bp"});
  EXPECT_NE(ok({"info", "--model-file", "t.bp"}).out.find("column target from the last 6 rows"),
            std::string::npos);
  const std::string next = ok({"predict", "--model-file", "t.bp", "--input", "two.csv"}).out;
  EXPECT_NEAR(std::stod(next), std::sin(0.4 * 300), 0.05) << next;  // the lead column's last value
}

TEST_F(CliSeries, ASeriesShorterThanItsWindowIsRefused) {
  const std::string csv = sine_csv(30);
  expect_error({"train", "--data", csv, "--window", "40"},
               {"--window 40 --horizon 1", "sine.csv has 30 rows"});
  expect_error({"train", "--data", "fashion-mnist", "--window", "4"},
               {"--window", "is not a CSV file"});
  expect_error({"eval", "--model-file", "none.bp", "--data", csv, "--window", "40"}, {"none.bp"});
}

}  // namespace
}  // namespace bp
