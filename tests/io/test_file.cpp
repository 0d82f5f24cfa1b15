#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "backprop/io.hpp"
#include "test_util.hpp"

namespace bp::io {
namespace {

namespace fs = std::filesystem;
using bp::testing::expect_error;

class AtomicFile : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return tmp_.file(name); }
  static std::string read(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  size_t entries() const {
    return static_cast<size_t>(
        std::distance(fs::directory_iterator(dir_), fs::directory_iterator()));
  }
  testing::TempDir tmp_;
  fs::path dir_ = tmp_.path();
};

TEST_F(AtomicFile, WritesAndReplacesLeavingNoTemporaryFile) {
  write_file_atomic(path("a.txt"), std::string_view("first"));
  EXPECT_EQ(read(path("a.txt")), "first");
  write_file_atomic(path("a.txt"), std::vector<unsigned char>{'2', '\0', 'x'});
  EXPECT_EQ(read(path("a.txt")), std::string("2\0x", 3));
  write_file_atomic(path("empty"), std::string_view());
  EXPECT_EQ(fs::file_size(path("empty")), 0u);
  EXPECT_EQ(entries(), 2u);
}

TEST_F(AtomicFile, RefusesADirectoryOrAMissingFolderAndKeepsTheOldFile) {
  fs::create_directory(path("sub"));
  expect_error([&] { write_file_atomic(path("sub"), std::string_view("x")); }, "is a directory");
  expect_error([&] { write_file_atomic(path("missing/a.txt"), std::string_view("x")); },
               "cannot write '" + path("missing/a.txt") + "'");
  write_file_atomic(path("keep"), std::string_view("old"));
  // A file in place of a folder on the path.
  expect_error([&] { write_file_atomic(path("keep/a.txt"), std::string_view("x")); },
               "cannot write");
  EXPECT_EQ(read(path("keep")), "old");
  EXPECT_EQ(entries(), 2u);  // sub, keep: no temporary files left
  expect_error([] { write_file_atomic("", std::string_view("x")); }, "empty name");
}

TEST_F(AtomicFile, CheckWritableAnswersBeforeWriting) {
  check_writable(path("new.html"));
  EXPECT_FALSE(fs::exists(path("new.html")));
  EXPECT_EQ(entries(), 0u);
  fs::create_directory(path("sub"));
  expect_error([&] { check_writable(path("sub")); }, "is a directory");
  expect_error([&] { check_writable(path("nope/r.html")); }, "no directory");
  write_file_atomic(path("f"), std::string_view("x"));
  expect_error([&] { check_writable(path("f/r.html")); }, "no directory");
}

TEST_F(AtomicFile, StaleTemporaryFilesOfDeadWritersAreRemovedAtTheNextWrite) {
  // A process that has exited: its pid names no live process (until reused, which is rare).
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ASSERT_GT(dead, 0);
  ::waitpid(dead, nullptr, 0);
  const std::string d = std::to_string(dead), live = std::to_string(::getppid());
  for (const std::string& name :
       {"m.bp.tmp" + d + ".0", "m.bp.tmp" + d + ".17", "m.bp.tmp" + live + ".3",
        "other.bp.tmp" + d + ".0", "m.bp.tmp" + d + ".x", std::string("m.bp.tmpx.1")})
    std::ofstream(path(name)) << "partial";
  write_file_atomic(path("m.bp"), std::string_view("model"));
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(dir_)) left.push_back(e.path().filename().string());
  std::sort(left.begin(), left.end());
  // Only this output's files of the dead writer went; a live writer's and strangers' stay.
  std::vector<std::string> expected{"m.bp", "m.bp.tmp" + d + ".x", "m.bp.tmp" + live + ".3",
                                    "m.bp.tmpx.1", "other.bp.tmp" + d + ".0"};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(left, expected);
}

TEST_F(AtomicFile, OutputsThatAreNotRegularFilesAreRefused) {
  // Renaming over a device would replace it: as root, /dev/null itself.
  expect_error([] { check_writable("/dev/null"); }, "it is a character device, not a regular file");
  expect_error([] { write_file_atomic("/dev/null", std::string_view("x")); }, "character device");
  // A log may be a device: appending is checked.
  check_appendable("/dev/null");
  expect_error([] { append_to_file("/dev/full", "line\n"); },
               "cannot write '/dev/full': No space left on device");
  append_to_file(path("log"), "a\n");
  append_to_file(path("log"), "b\n");
  EXPECT_EQ(read(path("log")), "a\nb\n");
  append_to_file(path("log"), "c\n", /*truncate=*/true);
  EXPECT_EQ(read(path("log")), "c\n");
  expect_error([&] { append_to_file(path("none/log"), "x"); }, "cannot write");
}

TEST_F(AtomicFile, ArchivesAreWrittenThroughIt) {
  Archive a;
  a.meta_json = R"({"k":1})";
  a.tensors.emplace_back("t", Tensor::from_data({1, 2}, {2}));
  save_archive(path("m.bp"), a);
  EXPECT_EQ(read(path("m.bp")).size(), serialize_archive(a).size());
  EXPECT_EQ(load_archive(path("m.bp")).meta_json, a.meta_json);
  expect_error([&] { save_archive(path("none/m.bp"), a); }, "cannot write");
  EXPECT_EQ(entries(), 1u);
}

}  // namespace
}  // namespace bp::io
