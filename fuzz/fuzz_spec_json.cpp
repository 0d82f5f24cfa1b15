// libFuzzer target: the JSON model spec reader on arbitrary bytes must either give layers whose
// canonical text form parses back to the same layers, or throw bp::Error, in time linear in the
// input; anything else (crash, stack overflow on deep nesting, sanitizer report, another
// exception such as the JSON library's) is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "backprop/error.hpp"
#include "backprop/spec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const std::vector<bp::nn::LayerSpec> layers = bp::nn::parse_model_spec_json(text);
    const std::string canonical = bp::nn::to_string(layers);
    if (bp::nn::to_string(bp::nn::parse_model_spec(canonical)) != canonical) std::abort();
  } catch (const bp::Error&) {
  }
  return 0;
}
