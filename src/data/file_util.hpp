// File helpers shared by the data readers. Internal.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bp::data::detail {

// The whole file as bytes. Throws bp::Error naming `op` and `path` when the file cannot be
// opened or read, is a directory, or is larger than `max_bytes`.
std::vector<uint8_t> read_file_bytes(const std::string& path, const char* op, uint64_t max_bytes);

}  // namespace bp::data::detail
