// Checks of numeric flags, shared by the commands: the valid range is shown in --help and in the
// error, and NaN or infinity never slip through (CLI11's Range lets NaN pass: every comparison
// with it is false).
#pragma once

#include <CLI/CLI.hpp>

#include <charconv>
#include <cmath>
#include <string>

#include <fmt/format.h>

namespace bp::cli {

// A validator accepting finite numbers from `low` to `high`, each end included unless open; its
// help text reads "in [0, 1)" and its error "must be a number in [0, 1), got nan".
inline CLI::Validator in_range(double low, double high, bool low_open = false,
                               bool high_open = false) {
  const std::string range =
      fmt::format("{}{:g}, {:g}{}", low_open ? '(' : '[', low, high, high_open ? ')' : ']');
  return CLI::Validator(
      [=](std::string& input) {
        double v = 0;
        const char* end = input.data() + input.size();
        const auto [ptr, ec] = std::from_chars(input.data(), end, v);
        const bool ok = ec == std::errc() && ptr == end && std::isfinite(v) &&
                        (low_open ? v > low : v >= low) && (high_open ? v < high : v <= high);
        return ok ? std::string() : fmt::format("must be a number in {}, got '{}'", range, input);
      },
      "in " + range);
}

}  // namespace bp::cli
