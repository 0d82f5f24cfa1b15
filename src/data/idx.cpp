// IDX reader: the MNIST file format, raw or gzip-compressed, validated against its own length.
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>

#include "backprop/data.hpp"
#include "backprop/error.hpp"
#include "data/file_util.hpp"

namespace bp::data {

namespace {

constexpr size_t kInflateChunk = size_t{1} << 20;
constexpr uint64_t kMaxDeflateRatio = 1032;  // the most a deflate stream can expand

bool is_gzip(std::span<const uint8_t> bytes) {
  return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

uint32_t read_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

size_t element_size(uint8_t code) {
  switch (code) {
    case 0x08:
    case 0x09:
      return 1;
    case 0x0B:
      return 2;
    case 0x0C:
    case 0x0D:
      return 4;
    case 0x0E:
      return 8;
    default:
      return 0;
  }
}

const char* type_name(IdxType t) {
  switch (t) {
    case IdxType::u8:
      return "ubyte";
    case IdxType::i8:
      return "sbyte";
    case IdxType::i16:
      return "short";
    case IdxType::i32:
      return "int";
    case IdxType::f32:
      return "float";
    case IdxType::f64:
      return "double";
  }
  return "?";
}

// How many decompressed bytes an IDX stream may hold, judged from those that came out so far: the
// magic's 4, then the header's size, then header and payload as the header declares them.
// nullopt when the magic is already wrong: inflating more cannot help (parse_header names the
// problem). Throws when the declared size is over kMaxIdxBytes.
std::optional<uint64_t> idx_bytes_expected(std::span<const uint8_t> b, const std::string& name) {
  if (b.size() < 4) return 4;
  if (b[0] != 0 || b[1] != 0 || element_size(b[2]) == 0) return std::nullopt;
  const size_t header = 4 + 4 * size_t{b[3]};
  if (b.size() < header) return header;
  uint64_t total = element_size(b[2]);
  bool overflow = false;
  for (size_t d = 0; d < b[3]; ++d)
    overflow =
        overflow || __builtin_mul_overflow(total, uint64_t{read_be32(&b[4 + 4 * d])}, &total);
  overflow = overflow || __builtin_add_overflow(total, uint64_t{header}, &total);
  BP_CHECK_AS(FormatError, !overflow && total <= kMaxIdxBytes,
              "read_idx: {}: its header declares {} bytes of data, over the limit of {} bytes",
              name, overflow ? std::string("more than 2^64") : std::to_string(total), kMaxIdxBytes);
  return total;
}

// Inflates one or more concatenated gzip members. The output is reserved once for what the IDX
// header declares, but never past what the compressed bytes can inflate to (deflate's ratio is at
// most 1032:1), so a lying header cannot make us allocate; and it stops as soon as the output
// goes one byte past what the IDX header declares (idx_bytes_expected), so neither can a stream
// that inflates to far more than its header says.
std::vector<uint8_t> gunzip(std::span<const uint8_t> in, const std::string& name) {
  std::vector<uint8_t> out;
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK)
    fail_as<FormatError>("read_idx: {}: cannot initialise zlib", name);
  struct Guard {
    z_stream* z;
    ~Guard() { inflateEnd(z); }
  } guard{&zs};

  size_t consumed = 0;  // compressed bytes handed to zlib so far
  while (true) {
    const std::optional<uint64_t> expected = idx_bytes_expected(out, name);
    if (!expected) break;
    BP_CHECK_AS(
        FormatError, out.size() <= *expected,
        "read_idx: {}: trailing bytes after the payload ends at offset {}: the decompressed "
        "data runs past the size its header declares (decompression stopped there)",
        name, *expected);
    // zlib counts in uInt; feed at most 1 GiB at a time.
    const size_t avail = std::min<size_t>(in.size() - consumed, size_t{1} << 30);
    zs.next_in = const_cast<Bytef*>(in.data() + consumed);
    zs.avail_in = static_cast<uInt>(avail);
    const size_t before = out.size();
    // One byte more than expected: enough to notice a stream that goes on.
    const size_t room = std::min<size_t>(kInflateChunk, *expected + 1 - before);
    if (out.capacity() < *expected + 1)  // one allocation rather than a copy per doubling
      out.reserve(std::min<uint64_t>(*expected + 1, kMaxDeflateRatio * in.size() + kInflateChunk));
    out.resize(before + room);
    zs.next_out = out.data() + before;
    zs.avail_out = static_cast<uInt>(room);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    consumed += avail - zs.avail_in;
    out.resize(before + (room - zs.avail_out));
    if (rc == Z_STREAM_END) {
      if (consumed == in.size()) break;
      // Another gzip member may follow (as `cat a.gz b.gz` makes); anything else is garbage.
      if (!is_gzip(in.subspan(consumed)))
        fail_as<FormatError>(
            "read_idx: {}: {} bytes of trailing garbage after the gzip stream at offset {}", name,
            in.size() - consumed, consumed);
      if (inflateReset(&zs) != Z_OK) fail_as<FormatError>("read_idx: {}: cannot reset zlib", name);
      continue;
    }
    if (rc == Z_NEED_DICT || rc == Z_DATA_ERROR || rc == Z_STREAM_ERROR || rc == Z_MEM_ERROR)
      fail_as<FormatError>("read_idx: {}: corrupt gzip data near compressed offset {}: {}", name,
                           consumed, zs.msg != nullptr ? zs.msg : "unknown zlib error");
    // Z_OK or Z_BUF_ERROR: zlib wants more input; with none left the stream was cut short.
    if (consumed == in.size() && zs.avail_out != 0)
      fail_as<FormatError>(
          "read_idx: {}: truncated gzip stream: all {} compressed bytes used before the end of "
          "the stream",
          name, in.size());
    if (rc == Z_BUF_ERROR && consumed < in.size())
      fail_as<FormatError>("read_idx: {}: gzip stream stalled at compressed offset {}", name,
                           consumed);
  }
  return out;
}

// Checks the header of decompressed IDX bytes against their length and returns it (type and
// shape in `out`) with the payload's offset. `what` describes the container ("file" or
// "decompressed data") for messages about offsets.
size_t parse_header(std::span<const uint8_t> b, const std::string& name, const char* what,
                    IdxArray& out) {
  BP_CHECK_AS(FormatError, b.size() >= 4,
              "read_idx: {}: truncated header: {} bytes of {}, the magic alone needs 4", name,
              b.size(), what);
  BP_CHECK_AS(
      FormatError, b[0] == 0 && b[1] == 0,
      "read_idx: {}: wrong magic {:02x} {:02x} {:02x} {:02x} at offset 0: an IDX file starts "
      "with 00 00 <type> <rank>",
      name, b[0], b[1], b[2], b[3]);
  const uint8_t code = b[2];
  const size_t esize = element_size(code);
  BP_CHECK_AS(
      FormatError, esize != 0,
      "read_idx: {}: unknown element type 0x{:02x} at offset 2 (expected 08, 09, 0b, 0c, 0d "
      "or 0e)",
      name, code);
  const size_t rank = b[3];
  const size_t header = 4 + 4 * rank;
  BP_CHECK_AS(FormatError, b.size() >= header,
              "read_idx: {}: truncated header: rank {} needs {} header bytes, {} has {}", name,
              rank, header, what, b.size());

  out.type = static_cast<IdxType>(code);
  out.shape.clear();
  const size_t payload = b.size() - header;
  // The product of the extents, with overflow detected (a zero extent makes it 0 regardless).
  // The product of the non-zero extents must fit int64 too, so that code multiplying the shape
  // left to right (bp::numel) never overflows, even when a zero extent makes the count 0.
  int64_t nonzero = 1;
  bool overflow = false, zero = false;
  for (size_t d = 0; d < rank; ++d) {
    const uint32_t extent = read_be32(b.data() + 4 + 4 * d);
    out.shape.push_back(static_cast<int64_t>(extent));
    if (extent == 0)
      zero = true;
    else
      overflow = overflow || __builtin_mul_overflow(nonzero, int64_t{extent}, &nonzero);
  }
  const uint64_t count = zero ? 0 : static_cast<uint64_t>(nonzero);
  uint64_t need = 0;
  overflow = overflow || __builtin_mul_overflow(count, uint64_t{esize}, &need);
  BP_CHECK_AS(
      FormatError, !overflow,
      "read_idx: {}: size mismatch: dimensions {} declare more {} elements than 64 bits can "
      "count, while the payload after offset {} has {} bytes",
      name, bp::to_string(out.shape), type_name(out.type), header, payload);
  BP_CHECK_AS(
      FormatError, need <= payload,
      "read_idx: {}: truncated: dimensions {} need {} payload bytes after offset {}, but {} "
      "ends at offset {} ({} bytes short)",
      name, bp::to_string(out.shape), need, header, what, b.size(), need - payload);
  const size_t expected = static_cast<size_t>(count) * esize;
  BP_CHECK_AS(
      FormatError, expected == payload,
      "read_idx: {}: {} trailing bytes after the payload ends at offset {} (dimensions {} of "
      "{})",
      name, payload - expected, header + expected, bp::to_string(out.shape), type_name(out.type));

  return header;
}

// Parses decompressed IDX bytes (see parse_header). A ubyte payload read as bytes is taken out of
// `owned` when given (the buffer holding `b`: no copy), else copied.
IdxArray parse_idx(std::span<const uint8_t> b, const std::string& name, const char* what,
                   IdxValues values, std::vector<uint8_t>* owned = nullptr) {
  IdxArray out;
  const size_t header = parse_header(b, name, what, out);
  const auto count = static_cast<size_t>(bp::numel(out.shape));
  if (values == IdxValues::bytes_if_u8 && out.type == IdxType::u8) {
    if (owned != nullptr) {
      owned->erase(owned->begin(), owned->begin() + static_cast<std::ptrdiff_t>(header));
      out.bytes = std::move(*owned);
    } else {
      out.bytes.assign(b.begin() + static_cast<std::ptrdiff_t>(header), b.end());
    }
    return out;
  }
  out.values.resize(static_cast<size_t>(count));
  const uint8_t* p = b.data() + header;
  float* v = out.values.data();
  const size_t n = out.values.size();
  switch (out.type) {
    case IdxType::u8:
      for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>(p[i]);
      break;
    case IdxType::i8:
      for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>(static_cast<int8_t>(p[i]));
      break;
    case IdxType::i16:
      for (size_t i = 0; i < n; ++i) {
        auto u = static_cast<uint16_t>((p[2 * i] << 8) | p[2 * i + 1]);
        v[i] = static_cast<float>(static_cast<int16_t>(u));
      }
      break;
    case IdxType::i32:
      for (size_t i = 0; i < n; ++i)
        v[i] = static_cast<float>(static_cast<int32_t>(read_be32(p + 4 * i)));
      break;
    case IdxType::f32:
      for (size_t i = 0; i < n; ++i) v[i] = std::bit_cast<float>(read_be32(p + 4 * i));
      break;
    case IdxType::f64:
      for (size_t i = 0; i < n; ++i) {
        const uint64_t hi = read_be32(p + 8 * i), lo = read_be32(p + 8 * i + 4);
        const double d = std::bit_cast<double>((hi << 32) | lo);
        constexpr double kMax = std::numeric_limits<float>::max();
        // Out-of-range double -> float conversion is undefined, so saturate explicitly.
        v[i] = d > kMax    ? std::numeric_limits<float>::infinity()
               : d < -kMax ? -std::numeric_limits<float>::infinity()
                           : static_cast<float>(d);
      }
      break;
  }
  return out;
}

}  // namespace

namespace {

IdxArray read_idx_impl(std::span<const uint8_t> bytes, const std::string& name, IdxValues values,
                       std::vector<uint8_t>* owned) {
  if (is_gzip(bytes)) {
    std::vector<uint8_t> raw = gunzip(bytes, name);
    return parse_idx(raw, name, "the decompressed data", values, &raw);
  }
  BP_CHECK_AS(FormatError, bytes.size() <= kMaxIdxBytes,
              "read_idx: {}: {} bytes exceed the {}-byte limit", name, bytes.size(), kMaxIdxBytes);
  return parse_idx(bytes, name, "the file", values, owned);
}

}  // namespace

IdxArray read_idx_bytes(std::span<const uint8_t> bytes, const std::string& name, IdxValues values) {
  return read_idx_impl(bytes, name, values, nullptr);
}

IdxArray read_idx(const std::string& path, IdxValues values) {
  std::vector<uint8_t> bytes = detail::read_file_bytes(path, "read_idx", kMaxIdxBytes);
  return read_idx_impl(bytes, path, values, &bytes);
}

}  // namespace bp::data
