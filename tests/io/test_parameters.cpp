// save_parameters / load_parameters: any module's tensors by dotted name, and save_model refusing
// what load_model could not rebuild.
#include <gtest/gtest.h>

#include <bit>
#include <filesystem>
#include <fstream>

#include "backprop/io.hpp"
#include "backprop/model.hpp"
#include "backprop/norm.hpp"
#include "test_util.hpp"

namespace bp {
namespace {

namespace fs = std::filesystem;
using bp::testing::expect_error;

// A module written by hand: two children, a parameter and a buffer of its own.
class Custom : public nn::Module {
 public:
  explicit Custom(uint64_t seed, int64_t hidden = 5) {
    Generator gen(seed);
    first_ = register_module("first", std::make_shared<nn::Linear>(3, hidden, gen));
    second_ = register_module("second", std::make_shared<nn::Linear>(hidden, 2, gen));
    scale_ = register_parameter("scale", Tensor::uniform({2}, 0.5f, 1.5f, gen));
    count_ = register_buffer("count", Tensor::full({1}, static_cast<float>(seed)));
  }
  Tensor forward(const Tensor& x) override {
    return second_->forward(tanh(first_->forward(x))) * scale_;
  }
  std::string name() const override { return "Custom"; }
  Tensor count_;

 private:
  std::shared_ptr<nn::Linear> first_, second_;
  Tensor scale_;
};

class ParameterFile : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return dir_.file(name); }

 private:
  testing::TempDir dir_;
};

void expect_same_tensors(const nn::Module& a, const nn::Module& b) {
  auto pa = a.named_parameters(), pb = b.named_parameters();
  auto ba = a.named_buffers(), bb = b.named_buffers();
  pa.insert(pa.end(), ba.begin(), ba.end());
  pb.insert(pb.end(), bb.begin(), bb.end());
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    ASSERT_EQ(pa[i].first, pb[i].first);
    ASSERT_EQ(pa[i].second.shape(), pb[i].second.shape()) << pa[i].first;
    for (int64_t k = 0; k < pa[i].second.numel(); ++k)
      ASSERT_EQ(std::bit_cast<uint32_t>(pa[i].second.data()[k]),
                std::bit_cast<uint32_t>(pb[i].second.data()[k]))
          << pa[i].first << "[" << k << "]";
  }
}

TEST_F(ParameterFile, RoundTripOfAHandBuiltModule) {
  Custom saved(1), loaded(2);
  save_parameters(saved, path("c.bp"));
  Tensor x = Tensor::from_data({0.1f, -0.2f, 0.3f}, {1, 3});
  EXPECT_FALSE(allclose(saved.forward(x), loaded.forward(x), 0, 0));
  load_parameters(loaded, path("c.bp"));
  expect_same_tensors(saved, loaded);
  EXPECT_TRUE(allclose(saved.forward(x), loaded.forward(x), 0, 0));
  EXPECT_EQ(loaded.count_.item(), 1.0f);
  // Loaded parameters stay trainable leaves.
  for (const Tensor& p : loaded.parameters()) EXPECT_TRUE(p.requires_grad() && p.is_leaf());
}

TEST_F(ParameterFile, MismatchesNameTheFirstDifferenceAndLeaveTheModuleUnchanged) {
  Custom saved(1);
  save_parameters(saved, path("c.bp"));
  Custom wider(2, 6), before(2, 6);
  expect_error([&] { load_parameters(wider, path("c.bp")); },
               "parameter 'first.weight' has shape [5, 3] in the file, the module needs [6, 3]");
  expect_same_tensors(wider, before);

  nn::Sequential fewer;  // lacks everything the file holds
  fewer.add(std::make_shared<nn::Linear>(3, 5));
  expect_error([&] { load_parameters(fewer, path("c.bp")); },
               "parameter '0.weight' is missing from the file");

  nn::Sequential one;
  one.add(std::make_shared<nn::Linear>(3, 5));
  save_parameters(one, path("one.bp"));
  nn::Sequential two;
  two.add(std::make_shared<nn::Linear>(3, 5)).add(std::make_shared<nn::Linear>(5, 2));
  expect_error([&] { load_parameters(two, path("one.bp")); },
               "parameter '1.weight' is missing from the file");
  save_parameters(two, path("two.bp"));
  expect_error([&] { load_parameters(one, path("two.bp")); },
               "the file holds an unexpected parameter '1.weight' that the module lacks");

  // Buffers are checked the same way.
  nn::Sequential with_norm;
  with_norm.add(std::make_shared<nn::Linear>(3, 5))
      .add(std::make_shared<nn::BatchNorm1d>(nn::BatchNormOptions{.features = 5}));
  nn::Sequential with_norm_params_only;
  with_norm_params_only.add(std::make_shared<nn::Linear>(3, 5))
      .add(std::make_shared<nn::LayerNorm>(nn::LayerNormOptions{.shape = {5}}));
  save_parameters(with_norm, path("bn.bp"));
  expect_error([&] { load_parameters(with_norm_params_only, path("bn.bp")); },
               "unexpected buffer '1.running_mean'");
}

TEST_F(ParameterFile, FilesThatAreNotParameterFilesAreClearErrors) {
  Custom c(1);
  expect_error([&] { load_parameters(c, path("none.bp")); }, "no such file");
  save_parameters(c, path("c.bp"));
  std::ifstream in(path("c.bp"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(path("t.bp"), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  expect_error([&] { load_parameters(c, path("t.bp")); }, path("t.bp"));
  io::Archive other;
  other.meta_json = R"({"kind":"plot"})";
  io::save_archive(path("o.bp"), other);
  expect_error([&] { load_parameters(c, path("o.bp")); }, "holds no parameters (kind 'plot')");
  other.meta_json = "{}";
  io::save_archive(path("o.bp"), other);
  expect_error([&] { load_parameters(c, path("o.bp")); }, "field 'kind' is missing");
  // A save into a missing folder fails before anything is written.
  expect_error([&] { save_parameters(c, path("no/dir/c.bp")); }, "cannot write");
}

TEST_F(ParameterFile, LoadsTheNetworkOfAModelFile) {
  Generator gen(3);
  Model m = Model::create(nn::parse_model_spec("dense(4),relu,dense(2)"), {3}, gen);
  save_model(path("m.bp"), m);
  Generator other(4);
  auto net = nn::build_model(m.spec, {3}, other);
  load_parameters(*net, path("m.bp"));
  expect_same_tensors(*m.network, *net);
}

TEST_F(ParameterFile, SaveModelRefusesWhatLoadModelCouldNotRebuild) {
  // A hand-built network without a spec: the file could never be loaded.
  Model m;
  m.input_shape = {3};
  m.network = std::make_shared<nn::Sequential>();
  m.network->add(std::make_shared<nn::Linear>(3, 2));
  expect_error([&] { save_model(path("m.bp"), m); }, "the model has no spec");
  EXPECT_FALSE(fs::exists(path("m.bp")));
  // A spec that builds other layers than the network holds.
  m.spec = nn::parse_model_spec("dense(3)");
  expect_error([&] { save_model(path("m.bp"), m); },
               "parameter '0.weight' has shape [2, 3] in the network, its spec needs [3, 3]");
  m.spec = nn::parse_model_spec("dense(2),dense(2)");
  expect_error([&] { save_model(path("m.bp"), m); },
               "parameter '1.weight' is missing from the network");
  EXPECT_FALSE(fs::exists(path("m.bp")));
  m.spec = nn::parse_model_spec("dense(2)");
  save_model(path("m.bp"), m);
  expect_same_tensors(*m.network, *load_model(path("m.bp")).network);
}

}  // namespace
}  // namespace bp
