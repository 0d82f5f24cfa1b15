#include "backprop/io.hpp"

#include <zlib.h>

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "backprop/error.hpp"
#include "data/file_util.hpp"

namespace bp::io {

namespace {

constexpr char kMagic[8] = {'B', 'A', 'C', 'K', 'P', 'R', 'O', 'P'};

class Writer {
 public:
  void bytes(const void* p, size_t n) {
    auto* c = static_cast<const unsigned char*>(p);
    out_.insert(out_.end(), c, c + n);
  }
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<unsigned char>(v >> (8 * i)));
  }
  void u64(uint64_t v) {
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<unsigned char>(v >> (8 * i)));
  }
  void string32(const std::string& s) {
    u32(static_cast<uint32_t>(s.size()));
    bytes(s.data(), s.size());
  }
  std::vector<unsigned char>& buffer() { return out_; }

 private:
  std::vector<unsigned char> out_;
};

class Reader {
 public:
  Reader(const std::vector<unsigned char>& bytes, size_t end, const std::string& what)
      : bytes_(bytes), end_(end), what_(what) {}

  void need(uint64_t n, const char* field) const {
    if (n > end_ - at_)
      fail_as<FormatError>(
          "{}: truncated or corrupt: {} needs {} bytes at offset {}, only {} remain", what_, field,
          n, at_, end_ - at_);
  }
  uint32_t u32(const char* field) {
    need(4, field);
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i)
      v |= static_cast<uint32_t>(bytes_[at_ + static_cast<size_t>(i)]) << (8 * i);
    at_ += 4;
    return v;
  }
  uint64_t u64(const char* field) {
    need(8, field);
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
      v |= static_cast<uint64_t>(bytes_[at_ + static_cast<size_t>(i)]) << (8 * i);
    at_ += 8;
    return v;
  }
  std::string string(uint64_t n, const char* field) {
    need(n, field);
    std::string s(reinterpret_cast<const char*>(bytes_.data() + at_), n);
    at_ += n;
    return s;
  }
  size_t offset() const { return at_; }
  const unsigned char* here() const { return bytes_.data() + at_; }
  void skip(uint64_t n) { at_ += n; }

 private:
  const std::vector<unsigned char>& bytes_;
  size_t end_;
  size_t at_ = 0;
  const std::string& what_;
};

uint32_t checksum(const unsigned char* p, size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths: feed large buffers in pieces.
  while (n > 0) {
    auto chunk = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    crc = crc32(crc, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace

const Tensor& Archive::tensor(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  fail_as<FormatError>("archive: no tensor named '{}'", name);
}

std::vector<unsigned char> serialize_archive(const Archive& archive) {
  Writer w;
  w.bytes(kMagic, sizeof kMagic);
  w.u32(kArchiveVersion);
  w.u32(0);
  w.u64(archive.meta_json.size());
  w.bytes(archive.meta_json.data(), archive.meta_json.size());
  w.u64(archive.tensors.size());
  for (const auto& [name, t] : archive.tensors) {
    BP_CHECK_AS(ValueError, t.defined(), "archive: tensor '{}' is undefined", name);
    w.string32(name);
    w.u32(static_cast<uint32_t>(t.dim()));
    for (int64_t d : t.shape()) w.u64(static_cast<uint64_t>(d));
    for (float v : t.values()) w.u32(std::bit_cast<uint32_t>(v));
  }
  w.u32(checksum(w.buffer().data(), w.buffer().size()));
  return std::move(w.buffer());
}

Archive parse_archive(const std::vector<unsigned char>& bytes, const std::string& what) {
  BP_CHECK_AS(
      FormatError,
      bytes.size() >= sizeof kMagic && std::memcmp(bytes.data(), kMagic, sizeof kMagic) == 0,
      "{}: not a backprop model or checkpoint file (wrong magic)", what);
  BP_CHECK_AS(FormatError, bytes.size() >= sizeof kMagic + 12, "{}: truncated: {} bytes", what,
              bytes.size());
  Reader header(bytes, bytes.size(), what);
  header.skip(sizeof kMagic);
  uint32_t version = header.u32("version");
  BP_CHECK_AS(FormatError, version == kArchiveVersion,
              "{}: format version {} is not supported (this build reads version {})", what, version,
              kArchiveVersion);
  const size_t body = bytes.size() - 4;
  uint32_t stored = 0;
  for (int i = 0; i < 4; ++i)
    stored |= static_cast<uint32_t>(bytes[body + static_cast<size_t>(i)]) << (8 * i);
  BP_CHECK_AS(FormatError, stored == checksum(bytes.data(), body),
              "{}: checksum mismatch: the file is corrupt or truncated", what);

  Reader r(bytes, body, what);
  r.skip(sizeof kMagic + 4);
  r.u32("reserved");
  Archive archive;
  archive.meta_json = r.string(r.u64("metadata length"), "metadata");
  uint64_t count = r.u64("tensor count");
  // Each tensor needs at least 8 bytes (name length and rank): bounds the count.
  BP_CHECK_AS(FormatError, count <= body / 8, "{}: impossible tensor count {} at offset {}", what,
              count, r.offset());
  for (uint64_t k = 0; k < count; ++k) {
    std::string name = r.string(r.u32("tensor name length"), "tensor name");
    uint32_t rank = r.u32("tensor rank");
    BP_CHECK_AS(FormatError, rank <= 16, "{}: tensor '{}' has rank {} at offset {}", what, name,
                rank, r.offset());
    Shape shape;
    uint64_t elements = 1;
    for (uint32_t d = 0; d < rank; ++d) {
      uint64_t extent = r.u64("tensor dimension");
      BP_CHECK_AS(FormatError, extent <= body && (extent == 0 || elements <= body / extent),
                  "{}: tensor '{}' has an impossible size at offset {}", what, name, r.offset());
      elements *= extent;
      shape.push_back(static_cast<int64_t>(extent));
    }
    r.need(elements * 4, "tensor data");
    Tensor t = Tensor::empty(shape);
    const unsigned char* p = r.here();
    float* out = t.data();
    for (uint64_t i = 0; i < elements; ++i, p += 4) {
      uint32_t bits = static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
                      static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
      out[i] = std::bit_cast<float>(bits);
    }
    r.skip(elements * 4);
    archive.tensors.emplace_back(std::move(name), std::move(t));
  }
  BP_CHECK_AS(FormatError, r.offset() == body, "{}: {} unexpected bytes after the last tensor",
              what, body - r.offset());
  return archive;
}

void save_archive(const std::string& path, const Archive& archive) {
  write_file_atomic(path, serialize_archive(archive));
}

Archive load_archive(const std::string& path) {
  return parse_archive(data::detail::read_file_bytes(path, "model file", kMaxArchiveBytes), path);
}

}  // namespace bp::io
