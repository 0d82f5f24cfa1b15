// Helpers shared by the tests.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "backprop/backprop.hpp"

namespace bp::testing {

// A fresh, empty folder of its own under the system's temporary directory, removed with all it
// holds when the object goes.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "bp_test_XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed: " + tmpl);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // The path of `name` inside the folder.
  std::string file(const std::string& name) const {
    return (std::filesystem::path(path_) / name).string();
  }
  std::string operator/(const std::string& name) const { return file(name); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Sets bp::set_num_threads for a scope, restoring the count on exit.
struct ThreadsScope {
  int saved = num_threads();
  explicit ThreadsScope(int n) { set_num_threads(n); }
  ~ThreadsScope() { set_num_threads(saved); }
  ThreadsScope(const ThreadsScope&) = delete;
  ThreadsScope& operator=(const ThreadsScope&) = delete;
};

// Uniform values in [low, high), as a leaf that requires a gradient.
inline Tensor random(const Shape& shape, Generator& gen, float low = -2.0f, float high = 2.0f) {
  return Tensor::uniform(shape, low, high, gen, true);
}

// Uniform values in [low, high) kept at least `margin` away from every kink, so that central
// differences never straddle a point where the function is not differentiable.
inline Tensor away_from(const Shape& shape, Generator& gen, std::initializer_list<float> kinks,
                        float low = -2.0f, float high = 2.0f, float margin = 0.1f) {
  Tensor t = Tensor::empty(shape, true);
  for (float& v : t.values()) {
    bool close;
    do {
      v = gen.uniform(low, high);
      close = false;
      for (float k : kinks) close = close || std::fabs(v - k) < margin;
    } while (close);
  }
  return t;
}

// Expects `fn` to throw bp::Error whose message contains `needle`.
template <typename F>
void expect_error(F&& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "expected bp::Error containing \"" << needle << "\"";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << "message was: " << e.what();
  }
}

}  // namespace bp::testing
