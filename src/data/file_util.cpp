#include "data/file_util.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "backprop/error.hpp"

namespace bp::data::detail {

const char* file_kind(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

std::vector<uint8_t> read_file_bytes(const std::string& path, const char* op, uint64_t max_bytes) {
  // O_NONBLOCK: opening a FIFO would otherwise wait for a writer before fstat could refuse it.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    fail_as<IoError>("{}: cannot open {}: {}", op, path,
                     errno == ENOENT ? "no such file" : std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    fail_as<IoError>("{}: cannot stat {}: {}", op, path, std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    fail_as<IoError>("{}: {} is {}, not a regular file", op, path, file_kind(st.st_mode));
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes)
    fail_as<IoError>("{}: {} is {} bytes, over the limit of {} bytes", op, path, size, max_bytes);
  // The size from fstat sizes the buffer; the loops still trust only what read() returns: a file
  // that shrinks ends early, one that grows is read on, up to the limit.
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  size_t done = 0;
  auto read_some = [&](uint8_t* into, size_t room) {
    while (true) {
      const ssize_t got = ::read(fd, into, room);
      if (got >= 0) return static_cast<size_t>(got);
      if (errno != EINTR)
        fail_as<IoError>("{}: cannot read {}: {}", op, path, std::strerror(errno));
    }
  };
  while (done < bytes.size()) {
    const size_t got = read_some(bytes.data() + done, bytes.size() - done);
    if (got == 0) break;
    done += got;
  }
  bytes.resize(done);
  uint8_t more[1 << 16];
  while (const size_t got = read_some(more, sizeof more)) {
    if (bytes.size() + got > max_bytes)
      fail_as<IoError>("{}: {} grew past the limit of {} bytes while being read", op, path,
                       max_bytes);
    bytes.insert(bytes.end(), more, more + got);
  }
  return bytes;
}

}  // namespace bp::data::detail
