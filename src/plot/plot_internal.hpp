// Helpers shared by the picture-drawing files.
#pragma once

#include <string>
#include <string_view>

namespace bp::plot {

// A coordinate or size for an SVG attribute: at most two decimals, no trailing zeros.
std::string num(double v);

// A rough width in pixels of `text` at font size `size` (proportional fonts average ~0.6 em).
inline double text_width(std::string_view text, double size) {
  return 0.6 * size * static_cast<double>(text.size());
}

}  // namespace bp::plot
