// Atomic file writes: the one way the library puts a file on disk.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "backprop/error.hpp"
#include "backprop/io.hpp"

namespace bp::io {

namespace {

// A name beside `path` that no other writer in this process or another one uses at the same time.
std::string temporary_name(const std::string& path) {
  static std::atomic<unsigned> counter{0};
  return path + ".tmp" + std::to_string(::getpid()) + "." + std::to_string(counter++);
}

// The folder that will hold `path` ("." for a bare file name).
std::filesystem::path folder_of(const std::string& path) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::filesystem::path(".") : parent;
}

}  // namespace

void write_file_atomic(const std::string& path, std::string_view bytes) {
  BP_CHECK(!path.empty(), "cannot write a file with an empty name");
  std::error_code ec;
  BP_CHECK(!std::filesystem::is_directory(path, ec), "cannot write '{}': it is a directory", path);
  const std::string tmp = temporary_name(path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  BP_CHECK(fd >= 0, "cannot write '{}': {}", path, std::strerror(errno));
  size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n == 0 ? EIO : errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      fail("cannot write '{}': {}", path, std::strerror(err));
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    fail("cannot write '{}': {}", path, std::strerror(err));
  }
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    fail("cannot write '{}': {}", path, std::strerror(err));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    fail("cannot write '{}': {}", path, std::strerror(err));
  }
}

void write_file_atomic(const std::string& path, const std::vector<unsigned char>& bytes) {
  write_file_atomic(path,
                    std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

void check_writable(const std::string& path) {
  BP_CHECK(!path.empty(), "cannot write a file with an empty name");
  std::error_code ec;
  BP_CHECK(!std::filesystem::is_directory(path, ec), "cannot write '{}': it is a directory", path);
  const std::filesystem::path folder = folder_of(path);
  BP_CHECK(std::filesystem::is_directory(folder, ec), "cannot write '{}': no directory '{}'", path,
           folder.string());
  const std::string probe = temporary_name(path);
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  BP_CHECK(fd >= 0, "cannot write '{}': {}", path, std::strerror(errno));
  ::close(fd);
  ::unlink(probe.c_str());
}

}  // namespace bp::io
