// libFuzzer target: model and checkpoint files. io::parse_archive on arbitrary bytes, then (when
// they parse) load_model and load_checkpoint on them through a file; each must succeed or throw
// bp::Error. With the first byte odd, the harness first rewrites the trailing CRC-32 so that
// mutations reach the size checks and the metadata, not only the checksum.
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "backprop/error.hpp"
#include "backprop/io.hpp"
#include "backprop/model.hpp"

namespace {

const std::string& temp_path() {
  static const std::string path = "/tmp/fuzz_model_" + std::to_string(::getpid()) + ".bp";
  return path;
}

void load(const std::vector<unsigned char>& bytes) {
  std::FILE* f = std::fopen(temp_path().c_str(), "wb");
  if (!f) return;
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
  try {
    bp::Model m = bp::load_model(temp_path());
    if (!m.network) std::abort();
  } catch (const bp::Error&) {
  }
  try {
    bp::Checkpoint c = bp::load_checkpoint(temp_path());
    if (c.epochs_done < 0) std::abort();
  } catch (const bp::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::vector<unsigned char> bytes(data + 1, data + size);
  if ((data[0] & 1) && bytes.size() >= 4) {
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, bytes.data(), static_cast<uInt>(bytes.size() - 4));
    for (size_t i = 0; i < 4; ++i)
      bytes[bytes.size() - 4 + i] = static_cast<unsigned char>(crc >> (8 * i));
  }
  try {
    bp::io::Archive a = bp::io::parse_archive(bytes, "fuzz");
    for (const auto& [name, t] : a.tensors)
      if (!t.defined()) std::abort();
    // A parsed archive serialises back to the same bytes, except the reserved field (ignored by
    // readers, written as 0) and so the checksum.
    std::vector<unsigned char> again = bp::io::serialize_archive(a), expected = bytes;
    for (size_t i = 12; i < 16; ++i) expected[i] = 0;
    if (again.size() != expected.size() ||
        !std::equal(again.begin(), again.end() - 4, expected.begin()))
      std::abort();
  } catch (const bp::Error&) {
    return 0;
  }
  load(bytes);
  return 0;
}
