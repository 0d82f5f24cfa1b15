// Atomic file writes and checked appends: the one way the library puts a file on disk.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "backprop/error.hpp"
#include "backprop/io.hpp"
#include "data/file_util.hpp"

namespace bp::io {

namespace {

namespace fs = std::filesystem;

constexpr const char* kTemporaryTag = ".tmp";

// A name beside `path` that no other writer in this process or another one uses at the same time:
// PATH.tmpPID.N.
std::string temporary_name(const std::string& path) {
  static std::atomic<unsigned> counter{0};
  return path + kTemporaryTag + std::to_string(::getpid()) + "." + std::to_string(counter++);
}

// The folder that will hold `path` ("." for a bare file name).
fs::path folder_of(const std::string& path) {
  fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? fs::path(".") : parent;
}

// The process id in a temporary name left by write_file_atomic for `base` ("m.bp.tmp123.4" for
// base "m.bp" gives 123), or 0 when `name` is not one.
pid_t writer_of(std::string_view name, std::string_view base) {
  const std::string prefix = std::string(base) + kTemporaryTag;
  if (name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix) return 0;
  const std::string_view rest = name.substr(prefix.size());
  pid_t pid = 0;
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), pid);
  if (ec != std::errc() || pid <= 0 || end == rest.data() + rest.size() || *end != '.') return 0;
  unsigned n = 0;
  const char* last = rest.data() + rest.size();
  const auto [end2, ec2] = std::from_chars(end + 1, last, n);
  return ec2 == std::errc() && end2 == last ? pid : 0;
}

// Removes temporary files that writers of `path` killed mid-save (kill -9, power loss) left
// behind: those whose process is gone. A live writer's file is left alone.
void remove_stale_temporaries(const std::string& path) {
  const std::string folder = folder_of(path).string();
  const std::string base = fs::path(path).filename().string();
  DIR* dir = ::opendir(folder.c_str());
  if (dir == nullptr) return;  // the write itself will report the folder's problem
  while (const dirent* entry = ::readdir(dir)) {
    const pid_t pid = writer_of(entry->d_name, base);
    if (pid != 0 && pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH)
      ::unlinkat(::dirfd(dir), entry->d_name, 0);
  }
  ::closedir(dir);
}

[[noreturn]] void fail_write(const std::string& path, int err) {
  fail_as<IoError>("cannot write '{}': {}", path, std::strerror(err));
}

// Writes all of `bytes` to `fd`; returns 0 or the errno of the failure.
int write_all(int fd, std::string_view bytes) {
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n == 0 ? EIO : errno;
    written += static_cast<size_t>(n);
  }
  return 0;
}

// Writes, flushes and closes `fd`; returns 0 or the errno of the first failure (fd is closed).
int write_and_close(int fd, std::string_view bytes) {
  int err = write_all(fd, bytes);
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  return err;
}

// A file with no name in `folder` (O_TMPFILE), or -1 where the file system cannot make one.
int open_unnamed(const fs::path& folder) {
#ifdef O_TMPFILE
  return ::open(folder.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
#else
  (void)folder;
  return -1;
#endif
}

// Gives the complete unnamed file `fd` the name `tmp`; false where linking is not possible.
bool link_unnamed(int fd, const std::string& tmp) {
  if (::linkat(fd, "", AT_FDCWD, tmp.c_str(), AT_EMPTY_PATH) == 0) return true;
  // Without the privilege AT_EMPTY_PATH needs, the same through /proc.
  const std::string self = "/proc/self/fd/" + std::to_string(fd);
  return ::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, tmp.c_str(), AT_SYMLINK_FOLLOW) == 0;
}

// The content goes into a file that has no name until it is complete (O_TMPFILE), is linked
// beside `path` and renamed over it: a crash while writing leaves nothing behind. Returns false
// (having written nothing) where the file system does not support it.
bool write_unnamed(const std::string& path, std::string_view bytes, const std::string& tmp) {
  const int fd = open_unnamed(folder_of(path));
  if (fd < 0) return false;
  if (const int err = write_all(fd, bytes); err != 0) {
    ::close(fd);
    fail_write(path, err);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    fail_write(path, err);
  }
  const bool linked = link_unnamed(fd, tmp);
  const int err = ::close(fd) != 0 ? errno : 0;
  if (!linked) return false;
  if (err != 0) {
    ::unlink(tmp.c_str());
    fail_write(path, err);
  }
  return true;
}

// The same with a named temporary file, for file systems without O_TMPFILE.
void write_named(const std::string& path, std::string_view bytes, const std::string& tmp) {
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) fail_write(path, errno);
  if (const int err = write_and_close(fd, bytes); err != 0) {
    ::unlink(tmp.c_str());
    fail_write(path, err);
  }
}

}  // namespace

void write_file_atomic(const std::string& path, std::string_view bytes) {
  check_writable(path);
  remove_stale_temporaries(path);
  const std::string tmp = temporary_name(path);
  if (!write_unnamed(path, bytes, tmp)) write_named(path, bytes, tmp);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail_write(path, err);
  }
}

void write_file_atomic(const std::string& path, const std::vector<unsigned char>& bytes) {
  write_file_atomic(path,
                    std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

void check_writable(const std::string& path) {
  BP_CHECK_AS(IoError, !path.empty(), "cannot write a file with an empty name");
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    BP_CHECK_AS(IoError, !S_ISDIR(st.st_mode), "cannot write '{}': it is a directory", path);
    // Renaming over a device or FIFO would replace it (as root, /dev/null itself).
    BP_CHECK_AS(IoError, S_ISREG(st.st_mode), "cannot write '{}': it is {}, not a regular file",
                path, data::detail::file_kind(st.st_mode));
  }
  std::error_code ec;
  const fs::path folder = folder_of(path);
  BP_CHECK_AS(IoError, fs::is_directory(folder, ec), "cannot write '{}': no directory '{}'", path,
              folder.string());
  // A probe file proves what access() cannot (a read-only file system, say); unnamed where
  // possible, so that not even a crash leaves it behind.
  int fd = open_unnamed(folder);
  std::string probe;
  if (fd < 0) {
    probe = temporary_name(path);
    fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  }
  BP_CHECK_AS(IoError, fd >= 0, "cannot write '{}': {}", path, std::strerror(errno));
  ::close(fd);
  if (!probe.empty()) ::unlink(probe.c_str());
}

void check_appendable(const std::string& path) {
  BP_CHECK_AS(IoError, !path.empty(), "cannot write a file with an empty name");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return check_writable(path);
  BP_CHECK_AS(IoError, !S_ISDIR(st.st_mode), "cannot write '{}': it is a directory", path);
  BP_CHECK_AS(IoError, S_ISREG(st.st_mode) || S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode),
              "cannot write '{}': it is {}", path, data::detail::file_kind(st.st_mode));
  BP_CHECK_AS(IoError, ::access(path.c_str(), W_OK) == 0, "cannot write '{}': {}", path,
              std::strerror(errno));
}

void append_to_file(const std::string& path, std::string_view text, bool truncate) {
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : O_APPEND);
  const int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) fail_write(path, errno);
  int err = write_all(fd, text);
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) fail_write(path, err);
}

}  // namespace bp::io
