// The encoder problem (PDP ch. 8): eight one-hot patterns must pass through three hidden units,
// so the network has to invent a code for them, usually a near-binary one.
#include <cstdio>
#include <set>
#include <string>

#include "paper_example.hpp"

int main() {
  bp::paper::Result r = bp::paper::run("encoder", bp::paper::experiment("encoder").defaults);
  example::print_run(r, false);
  std::set<std::string> codes;
  std::printf("pattern  hidden code\n");
  for (int64_t i = 0; i < 8; ++i) {
    std::string bits;
    std::printf("%7lld ", static_cast<long long>(i + 1));
    for (int64_t k = 0; k < 3; ++k) {
      float h = r.hidden.at({i, k});
      std::printf(" %.2f", static_cast<double>(h));
      bits += h > 0.5f ? '1' : '0';
    }
    std::printf("  (%s)\n", bits.c_str());
    codes.insert(bits);
  }
  std::printf("%zu distinct binary codes of 8\n", codes.size());
  return r.all_right() ? 0 : 1;
}
