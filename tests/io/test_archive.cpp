// Archives: the byte layout, exact round trips, and clear errors on every kind of damage.
#include <gtest/gtest.h>
#include <zlib.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "backprop/io.hpp"
#include "test_util.hpp"

namespace bp::io {
namespace {

namespace fs = std::filesystem;
using bp::testing::expect_error;
using bp::testing::TempDir;
using Bytes = std::vector<unsigned char>;

uint32_t read_u32(const Bytes& b, size_t at) {
  return static_cast<uint32_t>(b[at]) | static_cast<uint32_t>(b[at + 1]) << 8 |
         static_cast<uint32_t>(b[at + 2]) << 16 | static_cast<uint32_t>(b[at + 3]) << 24;
}
uint64_t read_u64(const Bytes& b, size_t at) {
  return static_cast<uint64_t>(read_u32(b, at)) | static_cast<uint64_t>(read_u32(b, at + 4)) << 32;
}
void write_u32(Bytes& b, size_t at, uint32_t v) {
  for (size_t i = 0; i < 4; ++i) b[at + i] = static_cast<unsigned char>(v >> (8 * i));
}
void write_u64(Bytes& b, size_t at, uint64_t v) {
  for (size_t i = 0; i < 8; ++i) b[at + i] = static_cast<unsigned char>(v >> (8 * i));
}
// Recomputes the trailing CRC-32 so that a deliberate edit reaches the checks after it.
void fix_crc(Bytes& b) {
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, b.data(), static_cast<uInt>(b.size() - 4));
  write_u32(b, b.size() - 4, static_cast<uint32_t>(crc));
}

std::string error_of(const Bytes& bytes) {
  try {
    parse_archive(bytes, "test.bp");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

Archive small_archive() {
  Archive a;
  a.meta_json = R"({"kind":"test"})";
  a.tensors.emplace_back("w", Tensor::from_data({1.0f, -2.0f, 3.5f, 0.25f, 5.0f, 6.0f}, {2, 3}));
  a.tensors.emplace_back("s", Tensor::scalar(7.0f));
  return a;
}

void write_file(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

TEST(Archive, RoundTripKeepsNamesShapesAndExactBits) {
  Archive a;
  a.meta_json = R"({"hello":"wörld","n":[1,2,3]})";
  const float specials[] = {0.0f,
                            -0.0f,
                            std::numeric_limits<float>::quiet_NaN(),
                            std::bit_cast<float>(0x7fa00001u),  // NaN with a payload
                            std::bit_cast<float>(0xffc00000u),  // negative NaN
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::denorm_min(),
                            -std::numeric_limits<float>::denorm_min(),
                            std::bit_cast<float>(0x007fffffu),  // largest denormal
                            std::numeric_limits<float>::max(),
                            std::numeric_limits<float>::lowest(),
                            1.0f / 3.0f};
  a.tensors.emplace_back("specials", Tensor::from_data(specials, {13}));
  a.tensors.emplace_back("scalar", Tensor::scalar(-1.5f));
  a.tensors.emplace_back("empty", Tensor::empty({0}));
  a.tensors.emplace_back("empty2d", Tensor::empty({3, 0, 2}));
  Generator gen(3);
  a.tensors.emplace_back("layer/0.weight", Tensor::normal({4, 5, 6}, 0, 1, gen));
  a.tensors.emplace_back("", Tensor::ones({1}));  // empty names are legal

  TempDir dir;
  save_archive(dir / "a.bp", a);
  for (const Archive& b :
       {parse_archive(serialize_archive(a), "mem"), load_archive(dir / "a.bp")}) {
    EXPECT_EQ(b.meta_json, a.meta_json);
    ASSERT_EQ(b.tensors.size(), a.tensors.size());
    for (size_t i = 0; i < a.tensors.size(); ++i) {
      EXPECT_EQ(b.tensors[i].first, a.tensors[i].first);
      const Tensor& x = a.tensors[i].second;
      const Tensor& y = b.tensors[i].second;
      EXPECT_EQ(y.shape(), x.shape()) << a.tensors[i].first;
      ASSERT_EQ(y.numel(), x.numel());
      for (int64_t k = 0; k < x.numel(); ++k)
        EXPECT_EQ(std::bit_cast<uint32_t>(y.data()[k]), std::bit_cast<uint32_t>(x.data()[k]))
            << a.tensors[i].first << "[" << k << "]";
    }
  }
  EXPECT_EQ(parse_archive(serialize_archive(a), "mem").tensor("scalar").dim(), 0);
  EXPECT_EQ(parse_archive(serialize_archive(a), "mem").tensor("empty2d").shape(), (Shape{3, 0, 2}));
  expect_error([&] { a.tensor("missing"); }, "no tensor named 'missing'");
}

TEST(Archive, ByteLayoutIsLittleEndian) {
  Archive a;
  a.meta_json = "{}";
  a.tensors.emplace_back("ab", Tensor::from_data({1.0f, -2.0f}, {2}));
  Bytes b = serialize_archive(a);
  ASSERT_EQ(b.size(), 8 + 4 + 4 + 8 + 2 + 8 + (4 + 2 + 4 + 8 + 8) + 4u);
  EXPECT_EQ(std::string(b.begin(), b.begin() + 8), "BACKPROP");
  EXPECT_EQ(read_u32(b, 8), 1u);  // version, little-endian: 01 00 00 00
  EXPECT_EQ(b[8], 1);
  EXPECT_EQ(b[11], 0);
  EXPECT_EQ(read_u32(b, 12), 0u);  // reserved
  EXPECT_EQ(read_u64(b, 16), 2u);  // metadata length
  EXPECT_EQ(b[24], '{');
  EXPECT_EQ(read_u64(b, 26), 1u);  // tensor count
  EXPECT_EQ(read_u32(b, 34), 2u);  // name length
  EXPECT_EQ(b[38], 'a');
  EXPECT_EQ(read_u32(b, 40), 1u);           // rank
  EXPECT_EQ(read_u64(b, 44), 2u);           // dims[0]
  EXPECT_EQ(read_u32(b, 52), 0x3f800000u);  // 1.0f
  EXPECT_EQ(b[52], 0x00);
  EXPECT_EQ(b[55], 0x3f);
  EXPECT_EQ(read_u32(b, 56), 0xc0000000u);  // -2.0f
  uLong crc = crc32(crc32(0L, Z_NULL, 0), b.data(), static_cast<uInt>(b.size() - 4));
  EXPECT_EQ(read_u32(b, b.size() - 4), static_cast<uint32_t>(crc));
}

TEST(ArchiveErrors, WrongMagic) {
  Bytes b = serialize_archive(small_archive());
  b[0] = 'X';
  fix_crc(b);
  EXPECT_NE(error_of(b).find("wrong magic"), std::string::npos) << error_of(b);
  EXPECT_NE(error_of(b).find("test.bp"), std::string::npos);
  EXPECT_NE(error_of(Bytes{}).find("test.bp"), std::string::npos);
}

TEST(ArchiveErrors, WrongVersion) {
  Bytes b = serialize_archive(small_archive());
  write_u32(b, 8, 2);
  fix_crc(b);
  std::string e = error_of(b);
  EXPECT_NE(e.find("version 2 is not supported"), std::string::npos) << e;
  EXPECT_NE(e.find("version 1"), std::string::npos) << e;
  write_u32(b, 8, 0x01000000);  // version 1 written big-endian
  fix_crc(b);
  EXPECT_NE(error_of(b).find("version 16777216"), std::string::npos) << error_of(b);
}

TEST(ArchiveErrors, EveryPrefixIsACleanError) {
  Bytes b = serialize_archive(small_archive());
  for (size_t n = 0; n < b.size(); ++n) {
    Bytes prefix(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_NE(error_of(prefix), "") << "prefix of " << n << " bytes was accepted";
  }
  // A truncated file that happens to end on a valid CRC still fails its size checks.
  for (size_t n = 20; n < b.size(); ++n) {
    Bytes prefix(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(n));
    fix_crc(prefix);
    std::string e = error_of(prefix);
    EXPECT_NE(e, "") << "prefix of " << n << " bytes with a fixed CRC was accepted";
  }
  TempDir dir;
  write_file(dir / "t.bp", Bytes(b.begin(), b.begin() + 30));
  expect_error([&] { load_archive(dir / "t.bp"); }, dir / "t.bp");
}

TEST(ArchiveErrors, AnyFlippedByteIsDetected) {
  Bytes good = serialize_archive(small_archive());
  for (size_t i = 0; i < good.size(); ++i) {
    Bytes b = good;
    b[i] ^= 0x10;
    EXPECT_NE(error_of(b), "") << "flipping byte " << i << " went unnoticed";
  }
  Bytes b = good;
  b[40] ^= 1;
  EXPECT_NE(error_of(b).find("checksum mismatch"), std::string::npos) << error_of(b);
}

TEST(ArchiveErrors, TrailingBytes) {
  Bytes b = serialize_archive(small_archive());
  b.insert(b.end() - 4, {0, 0, 0});
  fix_crc(b);
  std::string e = error_of(b);
  EXPECT_NE(e.find("3 unexpected bytes"), std::string::npos) << e;
  // Bytes after the checksum break it.
  Bytes c = serialize_archive(small_archive());
  c.push_back(0);
  EXPECT_NE(error_of(c), "");
}

TEST(ArchiveErrors, AbsurdSizesAreRejectedBeforeAllocation) {
  const Bytes good = serialize_archive(small_archive());
  const size_t meta_len_at = 16;
  const size_t meta_len = read_u64(good, meta_len_at);
  const size_t count_at = 24 + meta_len;
  const size_t name_len_at = count_at + 8;
  const size_t rank_at = name_len_at + 4 + 1;
  const size_t dim0_at = rank_at + 4;
  struct Case {
    size_t at;
    uint64_t value;
    bool wide;
    const char* needle;
  };
  const Case cases[] = {
      {meta_len_at, ~uint64_t{0}, true, "metadata"},
      {meta_len_at, uint64_t{1} << 40, true, "metadata"},
      {count_at, ~uint64_t{0}, true, "impossible tensor count"},
      {count_at, 1000, true, "tensor"},
      {name_len_at, 0xffffffffu, false, "tensor name"},
      {rank_at, 1000, false, "rank 1000"},
      {rank_at, 17, false, "rank 17"},
      {dim0_at, ~uint64_t{0}, true, "impossible size"},
      {dim0_at, uint64_t{1} << 62, true, "impossible size"},
      {dim0_at, 1000000, true, "impossible size"},
      {dim0_at, 10, true, "tensor data"},
  };
  for (const Case& c : cases) {
    Bytes b = good;
    if (c.wide)
      write_u64(b, c.at, c.value);
    else
      write_u32(b, c.at, static_cast<uint32_t>(c.value));
    fix_crc(b);
    std::string e = error_of(b);
    EXPECT_NE(e.find(c.needle), std::string::npos)
        << "offset " << c.at << " value " << c.value << ": " << e;
  }
}

TEST(ArchiveErrors, LoadNamesThePath) {
  TempDir dir;
  expect_error([&] { load_archive(dir / "missing.bp"); }, "no such file");
  expect_error([&] { load_archive(dir.path()); }, dir.path());
  write_file(dir / "text.bp", Bytes{'h', 'e', 'l', 'l', 'o', '\n'});
  expect_error([&] { load_archive(dir / "text.bp"); }, "wrong magic");
  Bytes b = serialize_archive(small_archive());
  b[b.size() / 2] ^= 0xff;
  write_file(dir / "bad.bp", b);
  expect_error([&] { load_archive(dir / "bad.bp"); }, dir / "bad.bp" + ": checksum mismatch");
}

TEST(ArchiveSave, AtomicWriteLeavesNoTemporaryFiles) {
  TempDir dir;
  Archive a = small_archive();
  save_archive(dir / "m.bp", a);
  a.meta_json = R"({"second":true})";
  save_archive(dir / "m.bp", a);  // replaces the file
  EXPECT_EQ(load_archive(dir / "m.bp").meta_json, a.meta_json);
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir.path()))
    names.push_back(entry.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"m.bp"});
}

TEST(ArchiveSave, FailedWritesLeaveNothingBehind) {
  TempDir dir;
  const std::string target = dir / "missing_dir/m.bp";
  expect_error([&] { save_archive(target, small_archive()); }, "cannot write '" + target + "'");
  EXPECT_FALSE(fs::exists(dir / "missing_dir"));
  EXPECT_TRUE(fs::is_empty(dir.path()));

  // Saving over a directory fails and leaves the directory and no temporary file.
  fs::create_directory(dir / "taken");
  expect_error([&] { save_archive(dir / "taken", small_archive()); }, "cannot write");
  EXPECT_TRUE(fs::is_directory(dir / "taken"));
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1u);

  // A good file survives a failed save of an undefined tensor: it is never half-written.
  save_archive(dir / "good.bp", small_archive());
  Archive broken = small_archive();
  broken.tensors.emplace_back("undefined", Tensor());
  expect_error([&] { save_archive(dir / "good.bp", broken); }, "undefined");
  EXPECT_EQ(load_archive(dir / "good.bp").tensors.size(), 2u);
}

}  // namespace
}  // namespace bp::io
