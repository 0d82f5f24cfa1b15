// Adding two 2-bit numbers (PDP ch. 8): inputs a1 a0 b1 b0, outputs the 3-bit sum, with three
// hidden units and direct input-output connections.
#include "paper_example.hpp"

int main() {
  bp::paper::Result r = bp::paper::run("addition", bp::paper::experiment("addition").defaults);
  example::print_run(r);
  return r.all_right() ? 0 : 1;
}
