#include "backprop/shape.hpp"

#include <fmt/format.h>

#include "backprop/error.hpp"

namespace bp {

int64_t numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string to_string(const Shape& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

std::vector<int64_t> contiguous_strides(const Shape& shape) {
  std::vector<int64_t> strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    BP_CHECK_AS(ShapeError, da == db || da == 1 || db == 1,
                "{}: shapes {} and {} cannot be broadcast together (dimension {}: {} vs {})", op,
                to_string(a), to_string(b), i, da, db);
    out[i] = da == 1 ? db : da;
  }
  return out;
}

int64_t normalize_axis(int64_t axis, int64_t rank, const char* op) {
  BP_CHECK_AS(ShapeError, axis >= -rank && axis < rank,
              "{}: axis {} is out of range for a tensor of rank {}", op, axis, rank);
  return axis < 0 ? axis + rank : axis;
}

}  // namespace bp
