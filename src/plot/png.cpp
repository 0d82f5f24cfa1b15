// A PNG encoder for 8-bit RGB images: signature, IHDR, one zlib-compressed IDAT, IEND.
#include <zlib.h>

#include "backprop/error.hpp"
#include "backprop/plot.hpp"

namespace bp::plot {

namespace {

void put_u32(std::vector<unsigned char>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<unsigned char>(v >> shift));
}

// A chunk: length, type, data, CRC-32 of type and data (all big-endian).
void chunk(std::vector<unsigned char>& out, const char type[5],
           const std::vector<unsigned char>& data) {
  put_u32(out, static_cast<uint32_t>(data.size()));
  const size_t start = out.size();
  out.insert(out.end(), type, type + 4);
  out.insert(out.end(), data.begin(), data.end());
  const uLong crc =
      crc32(crc32(0L, Z_NULL, 0), out.data() + start, static_cast<uInt>(out.size() - start));
  put_u32(out, static_cast<uint32_t>(crc));
}

}  // namespace

std::vector<unsigned char> encode_png(int64_t width, int64_t height,
                                      std::span<const unsigned char> rgb) {
  BP_CHECK(width > 0 && height > 0 && width <= (1 << 20) && height <= (1 << 20) &&
               width * height <= (int64_t{1} << 28),
           "png: image size {}x{} is empty or too large", width, height);
  BP_CHECK(rgb.size() == static_cast<size_t>(width * height * 3),
           "png: a {}x{} RGB image needs {} bytes, got {}", width, height, width * height * 3,
           rgb.size());
  // Scanlines, each behind filter byte 0 (none).
  const auto row = static_cast<size_t>(width * 3);
  std::vector<unsigned char> raw;
  raw.reserve((row + 1) * static_cast<size_t>(height));
  for (int64_t y = 0; y < height; ++y) {
    raw.push_back(0);
    raw.insert(raw.end(), rgb.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(y) * row),
               rgb.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(y + 1) * row));
  }
  uLongf packed_size = compressBound(static_cast<uLong>(raw.size()));
  std::vector<unsigned char> packed(packed_size);
  BP_CHECK(
      compress2(packed.data(), &packed_size, raw.data(), static_cast<uLong>(raw.size()), 9) == Z_OK,
      "png: compression failed");
  packed.resize(packed_size);

  std::vector<unsigned char> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<unsigned char> header;
  put_u32(header, static_cast<uint32_t>(width));
  put_u32(header, static_cast<uint32_t>(height));
  header.insert(header.end(),
                {8, 2, 0, 0, 0});  // 8 bits, RGB, deflate, no filter set, no interlace
  chunk(out, "IHDR", header);
  chunk(out, "IDAT", packed);
  chunk(out, "IEND", {});
  return out;
}

}  // namespace bp::plot
