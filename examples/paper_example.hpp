// Shared by the paper's example programs: print a run the way the papers tabulate it.
#pragma once

#include <cstdio>
#include <string>

#include "backprop/paper.hpp"

namespace example {

// Each pattern's input, target and output, and a summary line.
inline void print_run(const bp::paper::Result& r, bool patterns = true) {
  const int64_t n = r.inputs.size(0), in = r.inputs.numel() / n, out = r.targets.numel() / n;
  if (patterns)
    for (int64_t i = 0; i < n; ++i) {
      std::string line;
      for (int64_t k = 0; k < in; ++k) line += r.inputs.data()[i * in + k] > 0.5f ? '1' : '0';
      line += " ->";
      for (int64_t k = 0; k < out; ++k) {
        char buf[32];
        std::snprintf(buf, sizeof buf, " %.2f(%g)",
                      static_cast<double>(r.outputs.data()[i * out + k]),
                      static_cast<double>(r.targets.data()[i * out + k]));
        line += buf;
      }
      std::printf("%s\n", line.c_str());
    }
  std::printf("%s seed %llu: %s after %lld sweeps, %lld of %lld patterns right, E = %.4f\n",
              r.experiment.c_str(), static_cast<unsigned long long>(r.settings.seed),
              r.converged ? "converged" : "NOT converged", static_cast<long long>(r.sweeps),
              static_cast<long long>(r.right), static_cast<long long>(r.total), r.error);
}

// The weights by name, one line each (small nets only).
inline void print_weights(const bp::paper::Result& r) {
  for (const auto& [name, w] : r.weights) {
    std::printf("%-14s", name.c_str());
    for (float v : w.values()) std::printf(" %6.2f", static_cast<double>(v));
    std::printf("\n");
  }
}

}  // namespace example
