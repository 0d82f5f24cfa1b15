#include "backprop/error.hpp"

namespace bp {

namespace {

// Throws E with `message` when `e` is an E.
template <class E>
void throw_if(const Error& e, const std::string& message) {
  if (dynamic_cast<const E*>(&e) != nullptr) throw E(message);
}

}  // namespace

void rethrow_with_prefix(const Error& e, const std::string& prefix) {
  const std::string message = prefix + e.what();
  throw_if<ShapeError>(e, message);
  throw_if<ValueError>(e, message);
  throw_if<IoError>(e, message);
  throw_if<FormatError>(e, message);
  throw Error(message);
}

}  // namespace bp
