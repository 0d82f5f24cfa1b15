// libFuzzer target: ONNX files. onnx::import_model on arbitrary bytes through a file; it must
// return a model with a network or throw bp::Error.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "backprop/error.hpp"
#include "backprop/onnx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/fuzz_onnx_" + std::to_string(::getpid()) + ".onnx";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    const bp::Model m = bp::onnx::import_model(path);
    if (!m.network) std::abort();
  } catch (const bp::Error&) {
  }
  return 0;
}
