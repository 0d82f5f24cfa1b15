// Archives: the one binary container behind model files and checkpoints.
//
// Layout (all integers little-endian, whatever the machine):
//   "BACKPROP"  8-byte magic
//   u32 version (1), u32 reserved (0)
//   u64 n, n bytes of UTF-8 JSON metadata
//   u64 count, then per tensor: u32 n, n bytes of name, u32 rank, u64 dims[rank],
//                               float32 values[∏dims] (IEEE-754 bits, little-endian)
//   u32 CRC-32 of every byte before it
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "backprop/export.hpp"
#include "backprop/tensor.hpp"

namespace bp::io {

inline constexpr uint32_t kArchiveVersion = 1;

// Writes `bytes` to `path` atomically: into a file with no name (O_TMPFILE, where the file system
// has it; else a temporary file PATH.tmpPID.N beside it), flushed to disk, then renamed over
// `path`, so a crash never leaves a half-written file where a good one was, and no temporary file
// outlives it (the named kind left by a killed writer is removed at the next write of `path`).
// The one mechanism behind every file the library writes. Throws bp::Error naming the path and
// the system error when the file cannot be written (as check_writable, or a full disk); the
// temporary file is removed then and `path` keeps its old content.
BP_API void write_file_atomic(const std::string& path, std::string_view bytes);
BP_API void write_file_atomic(const std::string& path, const std::vector<unsigned char>& bytes);

// Checks, without touching `path`, that write_file_atomic(path, ...) can succeed: the name is not
// empty, `path` is a regular file or does not exist yet (a folder, device or FIFO is refused), and
// its folder exists and accepts a new file (an unnamed probe file is created and dropped). For
// checking output paths before a long computation. Throws bp::Error naming the path otherwise.
BP_API void check_writable(const std::string& path);

// The same for append_to_file: `path` may also be an existing character device or FIFO (a log
// streamed to /dev/stderr or a pipe), which must accept writing.
BP_API void check_appendable(const std::string& path);

// Appends `text` to `path` (created if needed; emptied first when `truncate`), checking every
// write and the close. Throws bp::Error "cannot write '<path>': <system error>" (a full disk, say).
BP_API void append_to_file(const std::string& path, std::string_view text, bool truncate = false);

struct BP_API Archive {
  std::string meta_json = "{}";
  std::vector<std::pair<std::string, Tensor>> tensors;

  // The tensor called `name`; throws bp::Error naming the archive's path-less context if absent.
  const Tensor& tensor(const std::string& name) const;
};

// Writes `archive` to `path` atomically: into a temporary file beside it, flushed to disk, then
// renamed over `path`, so a crash never leaves a half-written file where a good one was.
// Throws bp::Error (naming the path and the system error) when the file cannot be written.
BP_API void save_archive(const std::string& path, const Archive& archive);

// Largest model or checkpoint file read (checked with stat before reading).
inline constexpr uint64_t kMaxArchiveBytes = uint64_t{16} << 30;

// Reads an archive, checking magic, version, checksum and every size against the file length
// before use. Throws bp::Error naming the path (and byte offset) on any mismatch, and when the path
// is not a regular file or is larger than kMaxArchiveBytes.
BP_API Archive load_archive(const std::string& path);

// The same from bytes in memory; `what` names them in error messages.
BP_API Archive parse_archive(const std::vector<unsigned char>& bytes, const std::string& what);
BP_API std::vector<unsigned char> serialize_archive(const Archive& archive);

}  // namespace bp::io
