// Negation (PDP ch. 8): the first input is a flag; the three outputs copy the other three inputs
// when it is off and complement them when it is on: three XORs with the flag.
#include "paper_example.hpp"

int main() {
  bp::paper::Result r = bp::paper::run("negation", bp::paper::experiment("negation").defaults);
  example::print_run(r);
  return r.all_right() ? 0 : 1;
}
