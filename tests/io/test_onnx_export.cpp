// ONNX export through the public API: what it refuses, and that a failed export leaves nothing.
// The exported graphs themselves are checked by ONNX's checker and run in ONNX Runtime against
// predict (tests/onnx/check_runtime.py, the "onnx" label).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "backprop/onnx.hpp"
#include "test_util.hpp"

namespace bp {
namespace {

namespace fs = std::filesystem;
using bp::testing::expect_error;
using bp::testing::TempDir;

Model model_of(const std::string& spec, const Shape& input) {
  Generator gen(4);
  return Model::create(nn::parse_model_spec(spec), input, gen);
}

TEST(OnnxExport, WritesAModelHoldingEveryParameter) {
  TempDir dir;
  Model m = model_of("flatten,dense(16),relu,dropout(0.2),dense(3)", {2, 4});
  onnx::export_model(m, dir / "m.onnx");
  const auto bytes = fs::file_size(dir / "m.onnx");
  EXPECT_GT(bytes, static_cast<uintmax_t>(m.network->parameter_count() * 4));
  // The weights are stored raw: the first weight's bytes appear in the file.
  std::ifstream in(dir / "m.onnx", std::ios::binary);
  const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const Tensor w = m.network->parameters()[0];
  const std::string raw(reinterpret_cast<const char*>(w.data()), 16 * sizeof(float));
  EXPECT_NE(file.find(raw), std::string::npos);
  EXPECT_NE(file.find("Gemm"), std::string::npos);
  EXPECT_NE(file.find("Dropout"), std::string::npos);  // the identity in inference, kept for import
}

// A layer of a user's own type, which export cannot know.
class Doubling : public nn::Module {
 public:
  Tensor forward(const Tensor& x) override { return x * 2.0f; }
  std::string name() const override { return "Doubling"; }
};

TEST(OnnxExport, RefusesLayersWithoutAnOnnxFormNamingThem) {
  TempDir dir;
  Model m = model_of("dense(4),residual(dense(4)),dense(2)", {3});
  m.network->add(std::make_shared<Doubling>());
  expect_error([&] { onnx::export_model(m, dir / "a.onnx"); },
               "module '3' (Doubling) has no ONNX form");
  auto inner = std::make_shared<nn::Sequential>();
  inner->add(std::make_shared<Doubling>());
  m = model_of("dense(4)", {3});
  m.network->add(std::make_shared<nn::Residual>(inner));
  expect_error([&] { onnx::export_model(m, dir / "b.onnx"); }, "(Doubling) has no ONNX form");
  EXPECT_FALSE(fs::exists(dir / "a.onnx"));
  EXPECT_FALSE(fs::exists(dir / "b.onnx"));
}

TEST(OnnxExport, AFailedWriteLeavesNothing) {
  TempDir dir;
  Model m = model_of("dense(2)", {3});
  expect_error([&] { onnx::export_model(m, dir / "missing/m.onnx"); }, "missing");
  EXPECT_FALSE(fs::exists(dir / "missing"));
  expect_error([&] { onnx::export_model(Model{}, dir / "empty.onnx"); }, "no network");
  EXPECT_FALSE(fs::exists(dir / "empty.onnx"));
}

}  // namespace
}  // namespace bp
