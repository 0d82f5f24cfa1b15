// libFuzzer target: the model spec parsers on arbitrary text must either give layers whose
// canonical form parses back to the same text, or throw bp::Error; anything else (crash,
// sanitizer report, other exception, a huge allocation) is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "backprop/error.hpp"
#include "backprop/spec.hpp"

namespace {

// Builds the network on a small input when the spec parsed, which runs every builder for real.
void check(const std::vector<bp::nn::LayerSpec>& layers) {
  const std::string canonical = bp::nn::to_string(layers);
  if (bp::nn::to_string(bp::nn::parse_model_spec(canonical)) != canonical) std::abort();
  bp::Generator gen(0);
  try {
    // A budget keeps huge dense layers from allocating: they must fail cleanly instead.
    bp::nn::build_model(layers, {2, 3}, gen, 100000);
  } catch (const bp::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    check(bp::nn::parse_model_spec(text));
  } catch (const bp::Error&) {
  }
  try {
    check(bp::nn::parse_model_spec_json(text));
  } catch (const bp::Error&) {
  }
  return 0;
}
