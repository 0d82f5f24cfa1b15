// Time series: forecasting samples, a window of past rows and the next values of one column.
#include <algorithm>

#include "backprop/data.hpp"
#include "backprop/error.hpp"

namespace bp::data {

Dataset forecast_windows(const Tensor& series, int64_t target, int64_t window, int64_t horizon,
                         int64_t first) {
  BP_CHECK_AS(ShapeError, series.defined() && series.dim() == 2,
              "forecast_windows: the series must be (rows, columns), got {}",
              series.defined() ? to_string(series.shape()) : std::string("undefined"));
  const int64_t rows = series.size(0), columns = series.size(1);
  BP_CHECK_AS(ValueError, window > 0 && horizon > 0,
              "forecast_windows: window and horizon must be positive, got {} and {}", window,
              horizon);
  BP_CHECK_AS(ValueError, target >= 0 && target < columns,
              "forecast_windows: target column {} is outside [0, {})", target, columns);
  BP_CHECK_AS(ValueError, first >= 0 && rows - first >= window + horizon,
              "forecast_windows: {} rows are too few for a window of {} and a horizon of {} "
              "(at least {})",
              rows - first, window, horizon, window + horizon);
  const int64_t n = rows - first - window - horizon + 1;
  Dataset d;
  d.task = Task::regression;
  d.feature_shape = {window, columns};
  d.features = Tensor::empty({n, window, columns});
  d.targets = Tensor::empty({n, horizon});
  const float* x = series.data() + first * columns;
  for (int64_t i = 0; i < n; ++i) {
    std::copy_n(x + i * columns, window * columns, d.features.data() + i * window * columns);
    for (int64_t h = 0; h < horizon; ++h)
      d.targets.data()[i * horizon + h] = x[(i + window + h) * columns + target];
  }
  return d;
}

}  // namespace bp::data
