#include "data/file_util.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "backprop/error.hpp"

namespace bp::data::detail {

std::vector<uint8_t> read_file_bytes(const std::string& path, const char* op, uint64_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("{}: cannot open {}: {}", op, path, std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail("{}: cannot stat {}: {}", op, path, std::strerror(errno));
  if (S_ISDIR(st.st_mode)) fail("{}: {} is a directory, not a file", op, path);
  // The size from fstat only sizes the first read; the loop trusts what read() returns.
  if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > max_bytes)
    fail("{}: {} is {} bytes, over the {}-byte limit", op, path, st.st_size, max_bytes);
  std::vector<uint8_t> bytes;
  bytes.reserve(S_ISREG(st.st_mode) ? static_cast<size_t>(st.st_size) : 0);
  uint8_t buffer[1 << 16];
  while (true) {
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got < 0) {
      if (errno == EINTR) continue;
      fail("{}: cannot read {}: {}", op, path, std::strerror(errno));
    }
    if (got == 0) break;
    bytes.insert(bytes.end(), buffer, buffer + got);
    if (bytes.size() > max_bytes) fail("{}: {} is over the {}-byte limit", op, path, max_bytes);
  }
  return bytes;
}

}  // namespace bp::data::detail
