#include <gtest/gtest.h>
#include <zlib.h>

#include "backprop/plot.hpp"
#include "test_util.hpp"

namespace bp::plot {
namespace {

using bp::testing::expect_error;

struct Image {
  int64_t width = 0, height = 0;
  std::vector<unsigned char> rgb;
  const unsigned char* at(int64_t x, int64_t y) const {
    return &rgb[static_cast<size_t>((y * width + x) * 3)];
  }
};

uint32_t be32(const std::vector<unsigned char>& b, size_t at) {
  return static_cast<uint32_t>(b[at]) << 24 | static_cast<uint32_t>(b[at + 1]) << 16 |
         static_cast<uint32_t>(b[at + 2]) << 8 | b[at + 3];
}

// Reads back the PNG subset encode_png writes, checking every chunk's CRC.
Image decode(const std::vector<unsigned char>& png) {
  Image img;
  const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  EXPECT_TRUE(png.size() > 8 && std::equal(signature, signature + 8, png.begin()));
  std::vector<unsigned char> packed;
  std::vector<std::string> types;
  for (size_t at = 8; at + 12 <= png.size();) {
    const uint32_t n = be32(png, at);
    const std::string type(png.begin() + static_cast<std::ptrdiff_t>(at + 4),
                           png.begin() + static_cast<std::ptrdiff_t>(at + 8));
    types.push_back(type);
    const uLong crc = crc32(crc32(0L, Z_NULL, 0), png.data() + at + 4, n + 4);
    EXPECT_EQ(be32(png, at + 8 + n), static_cast<uint32_t>(crc)) << type;
    if (type == "IHDR") {
      img.width = be32(png, at + 8);
      img.height = be32(png, at + 12);
      EXPECT_EQ(png[at + 16], 8);  // bit depth
      EXPECT_EQ(png[at + 17], 2);  // RGB
    }
    if (type == "IDAT")
      packed.insert(packed.end(), png.begin() + static_cast<std::ptrdiff_t>(at + 8),
                    png.begin() + static_cast<std::ptrdiff_t>(at + 8 + n));
    at += 12 + n;
  }
  EXPECT_EQ(types, (std::vector<std::string>{"IHDR", "IDAT", "IEND"}));
  const size_t row = static_cast<size_t>(img.width) * 3;
  std::vector<unsigned char> raw((row + 1) * static_cast<size_t>(img.height));
  uLongf size = raw.size();
  EXPECT_EQ(uncompress(raw.data(), &size, packed.data(), packed.size()), Z_OK);
  EXPECT_EQ(size, raw.size());
  for (int64_t y = 0; y < img.height; ++y) {
    const auto start = static_cast<size_t>(y) * (row + 1);
    EXPECT_EQ(raw[start], 0);  // filter: none
    img.rgb.insert(img.rgb.end(), raw.begin() + static_cast<std::ptrdiff_t>(start + 1),
                   raw.begin() + static_cast<std::ptrdiff_t>(start + 1 + row));
  }
  return img;
}

TEST(Png, EncodesPixelsExactly) {
  const std::vector<unsigned char> rgb = {255, 0,  0,  0, 255, 0, 0, 0, 255,
                                          10,  20, 30, 1, 2,   3, 4, 5, 6};
  Image img = decode(encode_png(3, 2, rgb));
  EXPECT_EQ(img.width, 3);
  EXPECT_EQ(img.height, 2);
  EXPECT_EQ(img.rgb, rgb);
  expect_error([] { encode_png(2, 2, std::vector<unsigned char>(11)); }, "needs 12 bytes, got 11");
  expect_error([] { encode_png(0, 2, {}); }, "empty or too large");
}

TEST(Png, RectanglesAreRasterisedWithCoverageOnWhite) {
  Svg svg(4, 1);
  svg.rect(0.5, 0, 1, 1, "#000");
  svg.rect(3, 0, 1, 1, "#f00");
  svg.text(2, 1, "ignored");
  Image img = decode(svg.png());
  ASSERT_EQ(img.width, 4);
  EXPECT_EQ(img.at(0, 0)[0], 128);  // half covered: halfway from white to black
  EXPECT_EQ(img.at(1, 0)[0], 128);
  EXPECT_EQ(img.at(2, 0)[0], 255);  // text is left out
  EXPECT_EQ(img.at(3, 0)[0], 255);
  EXPECT_EQ(img.at(3, 0)[1], 0);
  Image twice = decode(svg.png(2));
  EXPECT_EQ(twice.width, 8);
  EXPECT_EQ(twice.height, 2);
  EXPECT_EQ(twice.at(1, 1)[0], 0);  // [1, 2) fully inside [0.5, 1.5) × 2
  expect_error([&] { svg.png(0); }, "scale");
  expect_error([&] { svg.png(NAN); }, "scale");
}

TEST(Png, HintonDiagramAsPixels) {
  // One row {1, -1}: two 20-pixel cells at (10, 10), squares of side 18 centred in them.
  Svg svg =
      hinton(HintonPanel{.weights = {1, -1}, .rows = 1, .cols = 2}, {.cell = 20, .legend = false});
  Image img = decode(svg.png());
  ASSERT_EQ(img.width, 60);
  ASSERT_EQ(img.height, 40);
  auto grey = [&](int64_t x, int64_t y) { return img.at(x, y)[0]; };
  EXPECT_EQ(grey(0, 0), 255);    // the page
  EXPECT_EQ(grey(10, 10), 128);  // the grey cell's corner, outside the square
  EXPECT_EQ(grey(20, 20), 255);  // inside the white square of +1
  EXPECT_EQ(grey(40, 20), 0);    // inside the black square of -1
  EXPECT_EQ(grey(30, 10), 128);
}

}  // namespace
}  // namespace bp::plot
