// Shape: the extent of each dimension of a row-major tensor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>
#include "backprop/export.hpp"

namespace bp {

using Shape = std::vector<int64_t>;

// Product of the extents (1 for a scalar shape {}).
BP_API int64_t numel(const Shape& shape);

// "[2, 3, 4]".
BP_API std::string to_string(const Shape& shape);

// Row-major strides, in elements.
BP_API std::vector<int64_t> contiguous_strides(const Shape& shape);

// NumPy broadcasting of two shapes. Throws bp::Error naming `op` and both shapes when they are
// incompatible.
BP_API Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// Maps a possibly negative axis into [0, rank). Throws bp::Error naming `op` when out of range.
BP_API int64_t normalize_axis(int64_t axis, int64_t rank, const char* op);

}  // namespace bp
