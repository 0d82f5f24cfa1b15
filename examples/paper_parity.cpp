// 4-bit parity with 4 hidden units (PDP ch. 8): the output is 1 when an odd number of inputs are
// on. Some starting points lead to a local minimum with one pattern wrong, so this tries three
// seeds and succeeds when one of them learns all 16 patterns.
#include "paper_example.hpp"

int main() {
  bp::paper::Settings s = bp::paper::experiment("parity").defaults;
  for (s.seed = 1; s.seed <= 3; ++s.seed) {
    bp::paper::Result r = bp::paper::run("parity", s);
    example::print_run(r, r.all_right());
    if (r.all_right()) return 0;
  }
  return 1;
}
