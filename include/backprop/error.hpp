// bp::Error and its kinds: the exceptions the library throws for bad input or misuse.
#pragma once

#include <stdexcept>
#include <string>

#include <fmt/format.h>
#include "backprop/export.hpp"

namespace bp {

// Thrown by every public function when an argument, shape or file is not what it expects.
// The message names the operation, what was expected and what came. Catch bp::Error for all of
// them, or one of its kinds below where the kind matters.
class BP_API Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// A tensor's shape does not fit the operation or layer (mismatched sizes, a wrong rank).
class BP_API ShapeError : public Error {
 public:
  using Error::Error;
};

// An argument's value is out of range or unknown (a negative learning rate, p = 1 for dropout,
// an unknown optimizer or layer name, a malformed model spec).
class BP_API ValueError : public Error {
 public:
  using Error::Error;
};

// A file cannot be read or written: missing, not a regular file, no permission, a full disk.
class BP_API IoError : public Error {
 public:
  using Error::Error;
};

// A file's content is not what it should be: truncated, corrupt, the wrong version, malformed
// JSON, a model file whose tensors do not fit the module.
class BP_API FormatError : public Error {
 public:
  using Error::Error;
};

// Throws E (bp::Error or one of its kinds) with a fmt-formatted message.
template <class E, typename... Args>
[[noreturn]] void fail_as(fmt::format_string<Args...> format, Args&&... args) {
  throw E(fmt::format(format, std::forward<Args>(args)...));
}

// Throws bp::Error with a fmt-formatted message.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

// Throws an error of the same kind as `e` whose message is `prefix` followed by e's message (for
// adding the file or layer an error came from).
[[noreturn]] BP_API void rethrow_with_prefix(const Error& e, const std::string& prefix);

}  // namespace bp

// BP_CHECK(cond, "op: expected {} but got {}", a, b): throws bp::Error when cond is false.
#define BP_CHECK(cond, ...)               \
  do {                                    \
    if (!(cond)) ::bp::fail(__VA_ARGS__); \
  } while (false)

// BP_CHECK_AS(ShapeError, cond, "..."): the same with one of bp::Error's kinds.
#define BP_CHECK_AS(E, cond, ...)                     \
  do {                                                \
    if (!(cond)) ::bp::fail_as<::bp::E>(__VA_ARGS__); \
  } while (false)
