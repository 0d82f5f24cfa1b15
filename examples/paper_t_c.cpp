// T versus C (PDP ch. 8): a T or a C, in any of four rotations, anywhere on a 6x6 retina. Every
// hidden unit looks at a 3x3 patch through the same weights (a convolution), so what it learns
// is one detector applied everywhere.
#include <cstdio>

#include "paper_example.hpp"

int main() {
  bp::paper::Result r = bp::paper::run("t-c", bp::paper::experiment("t-c").defaults);
  example::print_run(r, false);
  for (const auto& [name, w] : r.weights) {
    if (name != "filter.weight") continue;
    std::printf("the receptive field:\n");
    for (int64_t i = 0; i < 3; ++i)
      std::printf("  %6.2f %6.2f %6.2f\n", static_cast<double>(w.at({0, 0, i, 0})),
                  static_cast<double>(w.at({0, 0, i, 1})), static_cast<double>(w.at({0, 0, i, 2})));
  }
  return r.all_right() ? 0 : 1;
}
