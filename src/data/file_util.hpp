// Reading untrusted files: the one way the library reads a whole input file (CSV, IDX, model and
// checkpoint files, JSON specs). Internal.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace bp::data::detail {

// What a file of mode `mode` (from stat) is, for messages: "a directory", "a FIFO", ...
const char* file_kind(mode_t mode);

// The whole file as bytes. Requires: `path` names a regular file (or a link to one) of at most
// `max_bytes` bytes, checked with fstat before anything is read, so a device, FIFO or folder is
// refused at once (a FIFO is opened without waiting for a writer). Throws bp::Error
// "<op>: <path> is ..." naming the path and what it is, or the size and the limit, or the system
// error.
std::vector<uint8_t> read_file_bytes(const std::string& path, const char* op, uint64_t max_bytes);

}  // namespace bp::data::detail
