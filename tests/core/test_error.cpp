// bp::Error's kinds: each thrown where it fits, every one a bp::Error, and file readers that speak
// in the project's words (never a parser's or library's own exception text).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "backprop/io.hpp"
#include "backprop/model.hpp"
#include "test_util.hpp"

namespace bp {
namespace {

namespace fs = std::filesystem;

// Expects `fn` to throw an E (and so a bp::Error) whose message contains `needle` and none of the
// JSON library's own text.
template <class E, class F>
void expect_kind(F&& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "expected an error containing \"" << needle << "\"";
  } catch (const E& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(needle), std::string::npos) << "message was: " << what;
    EXPECT_EQ(what.find("json.exception"), std::string::npos) << what;
    EXPECT_NE(dynamic_cast<const Error*>(&e), nullptr);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong kind of error: " << e.what();
  }
}

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / ("bp_error_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

TEST(ErrorKinds, ShapeErrors) {
  expect_kind<ShapeError>(
      [] {
        matmul(Tensor::zeros({2, 3}), Tensor::zeros({2, 3}));
      },
      "matmul: inner dimensions differ");
  expect_kind<ShapeError>(
      [] {
        Tensor::zeros({2, 3}).copy_(Tensor::zeros({3, 2}));
      },
      "Tensor::copy_");
  expect_kind<ShapeError>([] { nn::Linear(4, 2).forward(Tensor::zeros({1, 3})); }, "linear");
  expect_kind<ShapeError>([] { add(Tensor::zeros({2}), Tensor::zeros({3})); }, "[2]");
  expect_kind<ShapeError>([] { Tensor::zeros({2, 3}).reshape({4}); }, "reshape");
}

TEST(ErrorKinds, ValueErrors) {
  expect_kind<ValueError>([] { optim::SGD({Tensor::zeros({1}, true)}, {.lr = -1.0f}); },
                          "learning rate must be >= 0");
  expect_kind<ValueError>([] { nn::Dropout(1.0f); }, "Dropout: p must be in [0, 1)");
  expect_kind<ValueError>([] { optim::make_optimizer("adadelta", {}, {}); }, "unknown kind");
  expect_kind<ValueError>([] { nn::parse_model_spec("dense(8"); }, "model spec");
  expect_kind<ValueError>([] { nn::parse_model_spec("nonsense"); }, "unknown layer");
  expect_kind<ValueError>([] { std::make_shared<nn::ELU>(-1.0f); }, "elu: alpha must be");
  expect_kind<ValueError>([] { nn::Linear(0, 2); }, "sizes must be positive");
}

TEST(ErrorKinds, IoErrors) {
  expect_kind<IoError>([] { load_model(temp_path("missing.bp")); }, "missing.bp");
  expect_kind<IoError>([] { data::read_csv(temp_path("missing.csv")); }, "missing.csv");
  expect_kind<IoError>([] { load_model(fs::temp_directory_path().string()); }, "a directory");
  nn::Linear lin(2, 2);
  expect_kind<IoError>([&] { save_parameters(lin, temp_path("no/such/dir/p.bp")); },
                       "cannot write");
}

TEST(ErrorKinds, FormatErrorsNameTheFileAndWhatIsWrong) {
  const std::string csv = temp_path("data.csv");
  std::ofstream(csv) << "a,b,label\n1,x,0\n";
  expect_kind<FormatError>([&] { data::read_csv(csv); }, "is not a number");
  // A file that is no archive at all.
  expect_kind<FormatError>([&] { load_model(csv); }, csv);
  fs::remove(csv);

  // Archives whose metadata is not a model's: the reported case (no "kind") and its relatives.
  const std::string path = temp_path("meta.bp");
  const std::vector<std::pair<std::string, std::string>> cases{
      {"{}", "field 'kind' is missing"},
      {R"({"kind": 3})", "field 'kind' must be a string, got number"},
      {"[1, 2]", "expected a JSON object, got array"},
      {R"({"kind": "model"})", "field 'spec' is missing"},
      {R"({"kind": "model", "spec": "dense(", "input_shape": [2]})", "model spec"},
      {"{not json", "invalid JSON"},
  };
  for (const auto& [meta, needle] : cases) {
    io::Archive a;
    a.meta_json = meta;
    io::save_archive(path, a);
    expect_kind<FormatError>([&] { load_model(path); }, needle);
    expect_kind<FormatError>([&] { load_model(path); }, path);
    expect_kind<FormatError>([&] { load_checkpoint(path); }, path);
  }
  nn::Linear lin(2, 2);
  expect_kind<FormatError>([&] { load_parameters(lin, path); }, path);
  fs::remove(path);

  // A JSON spec file that is not a spec.
  const std::string spec = temp_path("spec.json");
  std::ofstream(spec) << R"([{"layer": "dense", "args": "many"}])";
  expect_kind<FormatError>([&] { nn::read_model_spec_file(spec); }, spec);
  std::ofstream(spec) << "[[[";
  expect_kind<FormatError>([&] { nn::read_model_spec_file(spec); }, "invalid JSON");
  fs::remove(spec);

  // IDX bytes that are not IDX.
  const std::vector<uint8_t> bad{1, 2, 3, 4, 5};
  expect_kind<FormatError>([&] { data::read_idx_bytes(bad, "bad.idx"); }, "bad.idx");
}

TEST(ErrorKinds, RethrowWithPrefixKeepsTheKind) {
  expect_kind<ShapeError>([] { rethrow_with_prefix(ShapeError("inner"), "outer: "); },
                          "outer: inner");
  expect_kind<FormatError>([] { rethrow_with_prefix(FormatError("x"), "f: "); }, "f: x");
  try {
    rethrow_with_prefix(Error("plain"), "p: ");
  } catch (const ShapeError&) {
    ADD_FAILURE() << "a plain bp::Error became a ShapeError";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "p: plain");
  }
}

}  // namespace
}  // namespace bp
