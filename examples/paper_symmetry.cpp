// Mirror symmetry (Nature 1986, Fig. 1): is a 6-bit vector the mirror image of itself? Two hidden
// units suffice; the paper's solution weights mirror-image inputs equally and oppositely, in the
// ratio 1:2:4, so that only a symmetric vector gives both hidden units a net input of zero.
#include <cstdio>

#include "paper_example.hpp"

int main() {
  bp::paper::Result r = bp::paper::run("symmetry", bp::paper::experiment("symmetry").defaults);
  example::print_run(r, false);
  example::print_weights(r);
  bool mirror = r.converged;
  for (const bp::paper::MirrorUnit& u : bp::paper::mirror_structure(r)) {
    std::printf(
        "hidden unit: |w_i + w_(5-i)| <= %.3f of the largest weight; magnitudes 1 : %.2f : %.2f\n",
        u.mirror_error, u.ratios[1], u.ratios[2]);
    mirror = mirror && u.mirror_error < 0.05;
  }
  return mirror ? 0 : 1;
}
