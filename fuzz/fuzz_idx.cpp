// libFuzzer target: read_idx_bytes on arbitrary bytes must either succeed with a consistent array
// or throw bp::Error; anything else (crash, sanitizer report, other exception) is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "backprop/data.hpp"
#include "backprop/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    bp::data::IdxArray a = bp::data::read_idx_bytes(std::span<const uint8_t>(data, size));
    if (static_cast<int64_t>(a.values.size()) != bp::numel(a.shape)) std::abort();
  } catch (const bp::Error&) {
  }
  return 0;
}
