// Time series: forecasting samples, a window of past rows and the next values of one column.
#include "data_test_util.hpp"
#include "test_util.hpp"

namespace bp::testing {
namespace {

TEST(Series, WindowsAndTargetsAreExact) {
  // 6 rows of (a, b) with a = 10·t and b = t: windows of 2, horizon 2, target b (column 1).
  std::vector<float> rows;
  for (int t = 0; t < 6; ++t)
    rows.insert(rows.end(), {10.0f * static_cast<float>(t), static_cast<float>(t)});
  const Tensor series = Tensor::from_data(rows, {6, 2});
  const data::Dataset d = data::forecast_windows(series, 1, 2, 2);
  d.validate();
  ASSERT_EQ(d.size(), 3);  // 6 - 2 - 2 + 1
  EXPECT_EQ(d.task, data::Task::regression);
  EXPECT_EQ(d.feature_shape, Shape({2, 2}));
  const std::vector<float> x0(d.features.data(), d.features.data() + 4);
  EXPECT_EQ(x0, (std::vector<float>{0, 0, 10, 1}));
  const std::vector<float> y(d.targets.data(), d.targets.data() + 6);
  EXPECT_EQ(y, (std::vector<float>{2, 3, 3, 4, 4, 5}));
  // From row 3 on: one sample, rows 3..4 -> b at row 5 (horizon 1).
  const data::Dataset late = data::forecast_windows(series, 1, 2, 1, 3);
  ASSERT_EQ(late.size(), 1);
  EXPECT_EQ(late.features.data()[0], 30.0f);
  EXPECT_EQ(late.targets.data()[0], 5.0f);
  expect_error([&] { data::forecast_windows(series, 1, 5, 2); },
               "6 rows are too few for a window of 5 and a horizon of 2");
  expect_error([&] { data::forecast_windows(series, 2, 2, 1); }, "target column 2");
}

}  // namespace
}  // namespace bp::testing
