// IDX reader: every element type, gzip and raw, and every way a file can be wrong.
#include <cstring>

#include "data_test_util.hpp"
#include "test_util.hpp"

namespace bp::testing {
namespace {

using data::IdxType;
using data::read_idx;
using data::read_idx_bytes;

Bytes ubyte_images() {  // 2 images of 2x3
  return idx_bytes(0x08, {2, 2, 3}, {0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255});
}

TEST(IdxTest, ReadsRawUbyteImages) {
  TempDir dir;
  write_file(dir.file("img.idx"), ubyte_images());
  data::IdxArray a = read_idx(dir.file("img.idx"));
  EXPECT_EQ(a.type, IdxType::u8);
  EXPECT_EQ(a.shape, (Shape{2, 2, 3}));
  ASSERT_EQ(a.values.size(), 12u);
  EXPECT_EQ(a.values[0], 0.0f);
  EXPECT_EQ(a.values[5], 5.0f);
  EXPECT_EQ(a.values[11], 255.0f);
}

TEST(IdxTest, ReadsGzipAndRawAlike) {
  TempDir dir;
  write_file(dir.file("a"), ubyte_images());
  write_file(dir.file("a.gz"), gzip(ubyte_images()));
  data::IdxArray raw = read_idx(dir.file("a"));
  data::IdxArray gz = read_idx(dir.file("a.gz"));
  EXPECT_EQ(raw.shape, gz.shape);
  EXPECT_EQ(raw.values, gz.values);
}

TEST(IdxTest, ReadsConcatenatedGzipMembers) {
  Bytes whole = ubyte_images();
  Bytes first(whole.begin(), whole.begin() + 9), second(whole.begin() + 9, whole.end());
  Bytes gz = gzip(first);
  Bytes gz2 = gzip(second);
  gz.insert(gz.end(), gz2.begin(), gz2.end());
  EXPECT_EQ(read_idx_bytes(gz).values, read_idx_bytes(whole).values);
}

TEST(IdxTest, ReadsEveryElementTypeBigEndian) {
  // sbyte: -1, 127
  data::IdxArray a = read_idx_bytes(idx_bytes(0x09, {2}, {0xff, 0x7f}));
  EXPECT_EQ(a.type, IdxType::i8);
  EXPECT_EQ(a.values, (std::vector<float>{-1.0f, 127.0f}));
  // short: -2, 258
  a = read_idx_bytes(idx_bytes(0x0B, {2}, {0xff, 0xfe, 0x01, 0x02}));
  EXPECT_EQ(a.values, (std::vector<float>{-2.0f, 258.0f}));
  // int: -3, 65536
  a = read_idx_bytes(idx_bytes(0x0C, {2}, {0xff, 0xff, 0xff, 0xfd, 0x00, 0x01, 0x00, 0x00}));
  EXPECT_EQ(a.values, (std::vector<float>{-3.0f, 65536.0f}));
  // float: 1.5 = 0x3fc00000
  a = read_idx_bytes(idx_bytes(0x0D, {1}, {0x3f, 0xc0, 0x00, 0x00}));
  EXPECT_EQ(a.values, (std::vector<float>{1.5f}));
  // double: -2.25 = 0xc002000000000000, and 1e300 saturates to inf
  a = read_idx_bytes(idx_bytes(0x0E, {2},
                               {0xc0, 0x02, 0, 0, 0, 0, 0, 0,  //
                                0x7e, 0x37, 0xe4, 0x3c, 0x88, 0x00, 0x75, 0x9c}));
  ASSERT_EQ(a.values.size(), 2u);
  EXPECT_EQ(a.values[0], -2.25f);
  EXPECT_TRUE(std::isinf(a.values[1]) && a.values[1] > 0);
}

TEST(IdxTest, AnyRankIncludingZeroExtents) {
  data::IdxArray a = read_idx_bytes(idx_bytes(0x08, {1, 1, 1, 2, 1}, {7, 9}));
  EXPECT_EQ(a.shape, (Shape{1, 1, 1, 2, 1}));
  a = read_idx_bytes(idx_bytes(0x08, {0, 5}, {}));
  EXPECT_EQ(a.shape, (Shape{0, 5}));
  EXPECT_TRUE(a.values.empty());
  a = read_idx_bytes(idx_bytes(0x0D, {}, {0x3f, 0x80, 0, 0}));  // rank 0: one scalar
  EXPECT_EQ(a.values, (std::vector<float>{1.0f}));
}

TEST(IdxTest, RejectsWrongMagic) {
  TempDir dir;
  Bytes b = ubyte_images();
  b[1] = 0x01;
  write_file(dir.file("bad"), b);
  expect_error([&] { read_idx(dir.file("bad")); }, "wrong magic 00 01 08 03 at offset 0");
  expect_error([&] { read_idx(dir.file("bad")); }, dir.file("bad"));
  b = ubyte_images();
  b[2] = 0x0A;
  expect_error([&] { read_idx_bytes(b, "x.idx"); }, "x.idx: unknown element type 0x0a at offset 2");
}

TEST(IdxTest, RejectsTruncatedHeader) {
  expect_error([] { read_idx_bytes(Bytes{0, 0}); }, "truncated header: 2 bytes");
  expect_error([] { read_idx_bytes(Bytes{}); }, "truncated header: 0 bytes");
  expect_error(
      [] {
        read_idx_bytes(Bytes{0, 0, 8, 3, 0, 0, 0, 2, 0});
      },
      "rank 3 needs 16 header bytes");
}

TEST(IdxTest, RejectsTruncatedPayload) {
  Bytes b = ubyte_images();
  b.pop_back();
  expect_error([&] { read_idx_bytes(b, "t.idx"); },
               "t.idx: truncated: dimensions [2, 2, 3] need 12 payload bytes after offset 16");
  expect_error([&] { read_idx_bytes(b); }, "1 bytes short");
}

TEST(IdxTest, RejectsHugeDeclaredSizeWithoutAllocating) {
  // 4e9 x 4e9 x 4e9 ints: the product overflows 64 bits; must fail cleanly on the size check.
  Bytes b = idx_bytes(0x0C, {0xEE6B2800u, 0xEE6B2800u, 0xEE6B2800u}, {1, 2, 3, 4});
  expect_error([&] { read_idx_bytes(b); }, "size mismatch");
  expect_error([&] { read_idx_bytes(b); }, "the payload after offset 16 has 4 bytes");
  // A zero extent makes the count 0, but the other extents must still be representable.
  expect_error(
      [] {
        read_idx_bytes(idx_bytes(0x08, {0, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, {}));
      },
      "more ubyte elements than 64 bits can count");
  // A plausible but wrong size: 1000 elements declared, 3 present.
  expect_error([&] { read_idx_bytes(idx_bytes(0x08, {1000}, {1, 2, 3})); }, "997 bytes short");
}

TEST(IdxTest, RejectsTrailingBytes) {
  Bytes b = ubyte_images();
  b.push_back(0);
  b.push_back(0);
  expect_error([&] { read_idx_bytes(b); }, "2 trailing bytes after the payload ends at offset 28");
  // Also inside a gzip stream.
  // Decompression stops at the first byte past the declared size.
  expect_error([&] { read_idx_bytes(gzip(b)); },
               "trailing bytes after the payload ends at offset 28");
}

TEST(IdxTest, RejectsGarbageAfterGzipStream) {
  Bytes gz = gzip(ubyte_images());
  const size_t end = gz.size();
  gz.push_back('x');
  gz.push_back('y');
  gz.push_back('z');
  expect_error([&] { read_idx_bytes(gz); },
               fmt::format("3 bytes of trailing garbage after the gzip stream at offset {}", end));
}

TEST(IdxTest, RejectsCorruptGzip) {
  TempDir dir;
  Bytes gz = gzip(ubyte_images());
  gz[12] ^= 0xff;  // inside the deflate data
  gz[13] ^= 0x55;
  write_file(dir.file("c.gz"), gz);
  expect_error([&] { read_idx(dir.file("c.gz")); }, "c.gz: ");
  expect_error([&] { read_idx(dir.file("c.gz")); }, "gzip");
  // A checksum mismatch in the trailer is corruption too.
  gz = gzip(ubyte_images());
  gz[gz.size() - 6] ^= 0x01;
  expect_error([&] { read_idx_bytes(gz); }, "corrupt gzip data");
}

TEST(IdxTest, RejectsTruncatedGzip) {
  Bytes gz = gzip(ubyte_images());
  gz.resize(gz.size() - 5);
  expect_error([&] { read_idx_bytes(gz, "cut.gz"); }, "cut.gz: truncated gzip stream");
  expect_error([&] { read_idx_bytes(Bytes{0x1f, 0x8b}); }, "truncated gzip stream");
}

TEST(IdxTest, RejectsMissingFile) {
  TempDir dir;
  expect_error([&] { read_idx(dir.file("nope.idx")); }, "cannot open " + dir.file("nope.idx"));
  expect_error([&] { read_idx(dir.path()); }, "is a directory");
}

TEST(IdxTest, LoadsImageLabelPair) {
  TempDir dir;
  write_file(dir.file("img.gz"), gzip(ubyte_images()));
  write_file(dir.file("lab"), idx_bytes(0x08, {2}, {3, 1}));
  data::Dataset ds = data::load_idx_pair(dir.file("img.gz"), dir.file("lab"));
  EXPECT_EQ(ds.float_features().shape(), (Shape{2, 1, 2, 3}));
  EXPECT_EQ(ds.feature_shape, (Shape{1, 2, 3}));
  EXPECT_EQ(ds.labels, (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(ds.num_classes, 4);
  EXPECT_FLOAT_EQ(ds.float_features().data()[11], 1.0f);
  EXPECT_FLOAT_EQ(ds.float_features().data()[1], 1.0f / 255.0f);
  ds.validate();
}

TEST(IdxTest, PairRejectsMismatchedCountsAndBadLabels) {
  TempDir dir;
  write_file(dir.file("img"), ubyte_images());
  write_file(dir.file("lab3"), idx_bytes(0x08, {3}, {0, 1, 2}));
  write_file(dir.file("neg"), idx_bytes(0x09, {2}, {0, 0xff}));
  write_file(dir.file("flt"), idx_bytes(0x0D, {2}, {0, 0, 0, 0, 0, 0, 0, 0}));
  write_file(dir.file("lab2d"), idx_bytes(0x08, {2, 1}, {0, 1}));
  expect_error([&] { data::load_idx_pair(dir.file("img"), dir.file("lab3")); },
               "holds 2 images but " + dir.file("lab3") + " holds 3 labels");
  expect_error([&] { data::load_idx_pair(dir.file("img"), dir.file("neg")); }, "negative");
  expect_error([&] { data::load_idx_pair(dir.file("img"), dir.file("flt")); }, "integer type");
  expect_error([&] { data::load_idx_pair(dir.file("img"), dir.file("lab2d")); }, "rank 1");
  write_file(dir.file("lab"), idx_bytes(0x08, {2}, {0, 5}));
  expect_error(
      [&] {
        data::load_idx_pair(dir.file("img"), dir.file("lab"), {"a", "b"});
      },
      "label 5 but only 2 label names");
}

}  // namespace
}  // namespace bp::testing
