// bp::Error: the one exception type the library throws for bad input or misuse.
#pragma once

#include <stdexcept>
#include <string>

#include <fmt/format.h>
#include "backprop/export.hpp"

namespace bp {

// Thrown by every public function when an argument, shape or file is not what it expects.
// The message names the operation, what was expected and what came.
class BP_API Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Throws bp::Error with a fmt-formatted message.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace bp

// BP_CHECK(cond, "op: expected {} but got {}", a, b): throws bp::Error when cond is false.
#define BP_CHECK(cond, ...)               \
  do {                                    \
    if (!(cond)) ::bp::fail(__VA_ARGS__); \
  } while (false)
